// Settings: providers and model aliases (test connection), usage and budget, API keys (the
// key shown once), members and roles (Members.tsx), the audit log.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "../lib/api";
import type { Alias, ApiKey, AuditEntry, Budget, Provider, UsageGroup } from "../lib/types";
import { navigate, query, usePath } from "../router";
import { Problem } from "../components/Problem";
import { Members } from "./Members";
import { money, when } from "../lib/format";

const TABS = [
  ["providers", "Providers & models"],
  ["usage", "Usage & budget"],
  ["keys", "API keys"],
  ["members", "Members"],
  ["audit", "Audit log"],
] as const;

export default function Settings() {
  const path = usePath();
  const tab = query(path).get("tab") ?? "providers";
  return (
    <section>
      <h1>Settings</h1>
      <div role="tablist" className="tabs">
        {TABS.map(([id, label]) => (
          <button key={id} role="tab" aria-selected={tab === id} onClick={() => navigate(`/settings?tab=${id}`, true)}>{label}</button>
        ))}
      </div>
      {tab === "providers" && <Providers />}
      {tab === "usage" && <Usage />}
      {tab === "keys" && <Keys />}
      {tab === "members" && <Members />}
      {tab === "audit" && <Audit />}
    </section>
  );
}

function Providers() {
  const [items, setItems] = useState<Provider[]>([]);
  const [aliases, setAliases] = useState<Alias[]>([]);
  const [models, setModels] = useState<{ id: string; available: boolean }[]>([]);
  const [form, setForm] = useState({ name: "", kind: "openai", api_key: "", base_url: "", models: "" });
  const [alias, setAlias] = useState({ name: "", models: "" });
  const [tests, setTests] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    const [p, a, m] = await Promise.all([
      api<{ items: Provider[] }>("/providers", { query: { limit: 100 } }),
      api<{ items: Alias[] }>("/models/aliases"),
      api<{ items: { id: string; available: boolean }[] }>("/models"),
    ]);
    setItems(p.items);
    setAliases(a.items);
    setModels(m.items);
  }, []);
  useEffect(() => {
    load().catch(setError);
  }, [load]);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("/providers", {
        method: "POST",
        body: {
          name: form.name, kind: form.kind, api_key: form.api_key || null, base_url: form.base_url || null,
          models: form.models.split(/[\s,]+/).filter(Boolean),
        },
      });
      setForm({ name: "", kind: "openai", api_key: "", base_url: "", models: "" });
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const test = async (id: string) => {
    setTests((t) => ({ ...t, [id]: "testing…" }));
    try {
      const r = await api<{ ok: boolean; latency_ms: number; error: string | null; models: string[] }>(`/providers/${id}/test`, { method: "POST" });
      setTests((t) => ({ ...t, [id]: r.ok ? `ok in ${Math.round(r.latency_ms)} ms (${r.models.length} models)` : `failed: ${r.error}` }));
    } catch (err) {
      setTests((t) => ({ ...t, [id]: `failed: ${(err as Error).message}` }));
    }
  };
  const putAlias = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api(`/models/aliases/${encodeURIComponent(alias.name)}`, { method: "PUT", body: { models: alias.models.split(/[\s,]+/).filter(Boolean) } });
      setAlias({ name: "", models: "" });
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <Problem error={error} />
      <h2>Providers</h2>
      <table aria-label="Providers">
        <thead><tr><th>Name</th><th>Kind</th><th>Base URL</th><th>Key</th><th>Models</th><th /></tr></thead>
        <tbody>
          {items.map((p) => (
            <tr key={p.id}>
              <td>{p.name}</td><td>{p.kind}</td><td>{p.base_url}</td><td className="mono">{p.api_key_hint ?? (p.has_api_key ? "set" : "—")}</td>
              <td>{p.models.join(", ")}</td>
              <td>
                <button className="link" onClick={() => void test(p.id)}>Test connection</button>{" "}
                <button className="link" onClick={() => void api(`/providers/${p.id}`, { method: "DELETE" }).then(load, setError)}>Delete</button>
                {tests[p.id] && <div className="muted">{tests[p.id]}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="card stack" onSubmit={(e) => void create(e)} aria-label="New provider">
        <div className="row">
          <label className="inline">Name<input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required /></label>
          <label className="inline">Kind
            <select value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value })}>
              {["openai", "anthropic", "google", "ollama", "openai_compatible", "local"].map((k) => <option key={k}>{k}</option>)}
            </select>
          </label>
        </div>
        <label>API key<input type="password" autoComplete="off" value={form.api_key} onChange={(e) => setForm({ ...form, api_key: e.target.value })} /></label>
        <label>Base URL<input value={form.base_url} onChange={(e) => setForm({ ...form, base_url: e.target.value })} /></label>
        <label>Models (comma separated)<input value={form.models} onChange={(e) => setForm({ ...form, models: e.target.value })} /></label>
        <button type="submit">Add provider</button>
      </form>
      <h2>Model aliases</h2>
      <ul>
        {aliases.map((a) => (
          <li key={a.name}>
            <strong>{a.name}</strong> → {a.models.join(" → ")} <span className="muted">({a.strategy})</span>{" "}
            <button className="link" onClick={() => void api(`/models/aliases/${encodeURIComponent(a.name)}`, { method: "DELETE" }).then(load, setError)}>Delete</button>
          </li>
        ))}
      </ul>
      <form className="row" onSubmit={(e) => void putAlias(e)} aria-label="Set alias">
        <input placeholder="alias (e.g. fast)" aria-label="Alias name" value={alias.name} onChange={(e) => setAlias({ ...alias, name: e.target.value })} required />
        <input placeholder="provider/model, …" aria-label="Alias models" className="grow" value={alias.models} onChange={(e) => setAlias({ ...alias, models: e.target.value })} required list="models" />
        <datalist id="models">{models.map((m) => <option key={m.id} value={m.id} />)}</datalist>
        <button type="submit">Set alias</button>
      </form>
    </div>
  );
}

function Bars({ items, label }: { items: UsageGroup[]; label: string }) {
  const max = Math.max(1e-12, ...items.map((i) => i.cost_usd));
  const maxTok = Math.max(1, ...items.map((i) => i.input_tokens + i.output_tokens));
  return (
    <div className="card">
      <h3>By {label}</h3>
      {items.length === 0 && <p className="muted">No usage yet.</p>}
      {items.map((i) => (
        <div key={i.key ?? "none"} className="bar">
          <span className="barlabel">{i.key ?? "(unattributed)"}</span>
          <span className="barfill" style={{ width: `${Math.max(2, (100 * (max > 1e-12 ? i.cost_usd / max : (i.input_tokens + i.output_tokens) / maxTok)))}%` }} />
          <span className="muted">{money(i.cost_usd)} · {i.calls} calls · {i.input_tokens + i.output_tokens} tokens</span>
        </div>
      ))}
    </div>
  );
}

function Usage() {
  const [groups, setGroups] = useState<Record<string, UsageGroup[]>>({});
  const [budget, setBudget] = useState<Budget | null>(null);
  const [limit, setLimit] = useState("");
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    const [m, a, d, b] = await Promise.all([
      ...["model", "agent", "day"].map((g) => api<{ items: UsageGroup[] }>("/usage", { query: { group_by: g } })),
      api<Budget>("/budget"),
    ]);
    setGroups({ model: (m as { items: UsageGroup[] }).items, agent: (a as { items: UsageGroup[] }).items, day: (d as { items: UsageGroup[] }).items });
    setBudget(b as Budget);
  }, []);
  useEffect(() => {
    load().catch(setError);
  }, [load]);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setBudget(await api<Budget>("/budget", { method: "PUT", body: { monthly_usd: Number(limit) } }));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <Problem error={error} />
      {budget && (
        <div className="card">
          <h2>Budget ({budget.period})</h2>
          <p>Spent {money(budget.spent_usd)} of {budget.monthly_usd === null ? "no limit" : money(budget.monthly_usd)}{budget.remaining_usd !== null && ` · ${money(budget.remaining_usd)} left`}</p>
          <form className="row" onSubmit={(e) => void save(e)}>
            <label className="inline">Monthly limit (USD)<input type="number" min="0" step="0.01" value={limit} onChange={(e) => setLimit(e.target.value)} required /></label>
            <button type="submit">Set budget</button>
          </form>
        </div>
      )}
      <div className="cols3">
        <Bars items={groups.model ?? []} label="model" />
        <Bars items={groups.agent ?? []} label="agent" />
        <Bars items={groups.day ?? []} label="day" />
      </div>
    </div>
  );
}

function Keys() {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Set<string>>(new Set(["read", "run"]));
  const [shown, setShown] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    setKeys((await api<{ items: ApiKey[] }>("/api-keys", { query: { limit: 100 } })).items);
  }, []);
  useEffect(() => {
    load().catch(setError);
  }, [load]);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const k = await api<{ key: string }>("/api-keys", { method: "POST", body: { name, scopes: [...scopes] } });
      setShown(k.key);
      setName("");
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <Problem error={error} />
      {shown && (
        <div className="card note" role="status" aria-label="New API key">
          <p>Copy this key now: it is shown only once.</p>
          <code className="secret" aria-label="API key">{shown}</code>{" "}
          <button className="link" onClick={() => void navigator.clipboard?.writeText(shown)}>Copy</button>{" "}
          <button className="link" onClick={() => setShown(null)}>Done</button>
        </div>
      )}
      <table aria-label="API keys">
        <thead><tr><th>Name</th><th>Key</th><th>Scopes</th><th>Created</th><th>Last used</th><th /></tr></thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td><td className="mono">{k.prefix}…</td><td>{k.scopes.join(", ")}</td><td>{when(k.created_at)}</td><td>{when(k.last_used_at)}</td>
              <td>{k.revoked_at ? "revoked" : <button className="link" onClick={() => void api(`/api-keys/${k.id}`, { method: "DELETE" }).then(load, setError)}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="card row" onSubmit={(e) => void create(e)} aria-label="New API key">
        <label className="inline">Key name<input value={name} onChange={(e) => setName(e.target.value)} required /></label>
        {["read", "run", "write", "admin"].map((s) => (
          <label key={s} className="inline">
            <input type="checkbox" checked={scopes.has(s)} onChange={(e) => { const n = new Set(scopes); if (e.target.checked) n.add(s); else n.delete(s); setScopes(n); }} />
            {s}
          </label>
        ))}
        <button type="submit">Create API key</button>
      </form>
    </div>
  );
}

function Audit() {
  const [items, setItems] = useState<AuditEntry[]>([]);
  const [action, setAction] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(
    async (more: string | null) => {
      const p = await api<{ items: AuditEntry[]; next_cursor: string | null }>("/audit-logs", {
        query: { action, from: from ? new Date(from).toISOString() : null, to: to ? new Date(to).toISOString() : null, limit: 50, cursor: more },
      });
      setItems((i) => (more ? [...i, ...p.items] : p.items));
      setCursor(p.next_cursor);
    },
    [action, from, to],
  );
  useEffect(() => {
    load(null).catch(setError);
  }, [load]);
  return (
    <div>
      <Problem error={error} />
      <div className="row">
        <label className="inline">Action<input value={action} onChange={(e) => setAction(e.target.value)} placeholder="e.g. api_key.created" /></label>
        <label className="inline">From<input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} /></label>
        <label className="inline">To<input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} /></label>
      </div>
      <table aria-label="Audit log">
        <thead><tr><th>When</th><th>Action</th><th>Actor</th><th>Target</th><th>IP</th></tr></thead>
        <tbody>
          {items.map((a) => (
            <tr key={a.id}>
              <td>{when(a.created_at)}</td><td>{a.action}</td><td>{a.actor_type} {a.actor_id?.slice(0, 8)}</td>
              <td>{a.target_type} {a.target_id?.slice(0, 8)}</td><td>{a.ip}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor && <button className="secondary" onClick={() => void load(cursor).catch(setError)}>Load more</button>}
    </div>
  );
}
