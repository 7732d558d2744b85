// Tools: toolsets and their tools (when the server has them), and credentials. Secrets are
// write-only: the API answers with a masked hint, never the secret.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useApp } from "../App";
import { api, ApiError } from "../lib/api";
import type { Credential } from "../lib/types";
import { Problem } from "../components/Problem";
import { when } from "../lib/format";

const KINDS = ["api_key", "bearer", "basic", "headers", "oauth2"] as const;
type Kind = (typeof KINDS)[number];
const FIELDS: Record<Kind, string[]> = {
  api_key: ["header_name", "value"],
  bearer: ["token"],
  basic: ["username", "password"],
  headers: ["headers"],
  oauth2: ["client_id", "client_secret", "token_url", "scopes", "refresh_token"],
};
const SECRET = new Set(["value", "token", "password", "client_secret", "refresh_token", "headers"]);

interface Toolset { id: string; name: string; kind: string; tools?: { name: string; description?: string }[] }

export default function Tools() {
  const { space } = useApp();
  const [creds, setCreds] = useState<Credential[]>([]);
  const [toolsets, setToolsets] = useState<Toolset[] | null | "absent">(null);
  const [kind, setKind] = useState<Kind>("bearer");
  const [name, setName] = useState("");
  const [values, setValues] = useState<Record<string, string>>({});
  const [scope, setScope] = useState<"org" | "space">("org");
  const [error, setError] = useState<unknown>(null);
  const [tested, setTested] = useState<Record<string, string>>({});

  const load = useCallback(async () => {
    setCreds((await api<{ items: Credential[] }>("/credentials", { query: { limit: 200 } })).items);
  }, []);
  useEffect(() => {
    load().catch(setError);
    api<{ items: Toolset[] }>("/toolsets", { query: { limit: 200 } }).then(
      (p) => setToolsets(p.items),
      (e) => setToolsets(e instanceof ApiError && (e.status === 404 || e.status === 405) ? "absent" : []),
    );
  }, [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { name, kind };
    if (scope === "space" && space) body.space_id = space.id;
    for (const f of FIELDS[kind]) {
      const v = values[f];
      if (!v) continue;
      if (f === "headers") body.headers = JSON.parse(v);
      else if (f === "scopes") body.scopes = v.split(/[\s,]+/).filter(Boolean);
      else body[f] = v;
    }
    try {
      await api("/credentials", { method: "POST", body });
      setName("");
      setValues({});
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const test = async (id: string) => {
    try {
      const r = await api<Record<string, unknown>>(`/credentials/${id}/test`, { method: "POST" });
      setTested((t) => ({ ...t, [id]: JSON.stringify(r) }));
    } catch (err) {
      setTested((t) => ({ ...t, [id]: err instanceof Error ? err.message : String(err) }));
    }
  };
  const remove = async (id: string) => {
    if (!confirm("Delete this credential?")) return;
    await api(`/credentials/${id}`, { method: "DELETE" }).catch(setError);
    await load();
  };

  return (
    <section>
      <h1>Tools</h1>
      <Problem error={error} />
      <h2>Toolsets</h2>
      {toolsets === "absent" ? (
        <p className="muted">This server has no toolsets API yet.</p>
      ) : toolsets === null ? (
        <p className="muted">Loading…</p>
      ) : toolsets.length === 0 ? (
        <p className="muted">No toolsets.</p>
      ) : (
        <ul>
          {toolsets.map((t) => (
            <li key={t.id}>
              <strong>{t.name}</strong> <span className="muted">{t.kind}</span>
              {t.tools && <ul>{t.tools.map((x) => <li key={x.name}>{x.name} <span className="muted">{x.description}</span></li>)}</ul>}
            </li>
          ))}
        </ul>
      )}
      <h2>Credentials</h2>
      <table aria-label="Credentials">
        <thead><tr><th>Name</th><th>Kind</th><th>Scope</th><th>Secret</th><th>Status</th><th>Created</th><th /></tr></thead>
        <tbody>
          {creds.map((c) => (
            <tr key={c.id}>
              <td>{c.name}</td><td>{c.kind}</td><td>{c.space_id ? "space" : "organisation"}</td>
              <td className="mono">{c.hint ?? "••••"}</td><td>{c.status}</td><td>{when(c.created_at)}</td>
              <td>
                <button className="link" onClick={() => void test(c.id)}>Test</button>{" "}
                <button className="link" onClick={() => void remove(c.id)}>Delete</button>
                {tested[c.id] && <div className="muted">{tested[c.id]}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="card stack" onSubmit={(e) => void create(e)} aria-label="New credential">
        <h3>New credential</h3>
        <div className="row">
          <label className="inline">Name<input value={name} onChange={(e) => setName(e.target.value)} required /></label>
          <label className="inline">Kind
            <select value={kind} onChange={(e) => { setKind(e.target.value as Kind); setValues({}); }}>
              {KINDS.map((k) => <option key={k}>{k}</option>)}
            </select>
          </label>
          <label className="inline">For
            <select value={scope} onChange={(e) => setScope(e.target.value as "org" | "space")}>
              <option value="org">the organisation</option>
              <option value="space">this space only</option>
            </select>
          </label>
        </div>
        {FIELDS[kind].map((f) => (
          <label key={f}>
            {f}{f === "headers" ? " (JSON object)" : ""}
            <input type={SECRET.has(f) && f !== "headers" ? "password" : "text"} autoComplete="off" value={values[f] ?? ""} onChange={(e) => setValues((v) => ({ ...v, [f]: e.target.value }))} />
          </label>
        ))}
        <button type="submit">Save credential</button>
      </form>
    </section>
  );
}
