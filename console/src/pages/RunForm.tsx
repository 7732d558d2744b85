// Start a run from a form generated from the agent's `inputs` schema (Ctrl+Enter).
import { useMemo, useState, type FormEvent, type KeyboardEvent } from "react";
import { api } from "../lib/api";
import { formFields, formValues } from "../lib/schemaForm";
import type { Agent } from "../lib/types";
import { navigate } from "../router";
import { Problem } from "../components/Problem";

interface Created { run_id: string }

/** Start a run of the agent on a new thread (so a human step can be answered later). */
export async function startRun(agent: { id: string; space_id: string }, inputs: Record<string, unknown>): Promise<string> {
  const thread = await api<{ thread_id: string }>("/threads", { method: "POST", body: { metadata: { space_id: agent.space_id } } });
  const run = await api<Created>(`/threads/${thread.thread_id}/runs`, {
    method: "POST",
    body: { assistant_id: agent.id, input: inputs },
  });
  return run.run_id;
}

export function RunForm({ agent, inputsSchema, initial }: { agent: Agent; inputsSchema: unknown; initial?: Record<string, unknown> }) {
  const fields = useMemo(() => formFields(inputsSchema), [inputsSchema]);
  const [raw, setRaw] = useState<Record<string, string | boolean>>(() => {
    const out: Record<string, string | boolean> = {};
    for (const f of fields) {
      const v = initial?.[f.name] ?? f.default;
      if (v === undefined) continue;
      out[f.name] = f.kind === "boolean" ? Boolean(v) : typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
  });
  const [freeJson, setFreeJson] = useState(fields.length ? "" : "{}");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const inputs = fields.length ? formValues(fields, raw) : (JSON.parse(freeJson || "{}") as Record<string, unknown>);
      navigate(`/runs/${await startRun(agent, inputs)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const onKey = (e: KeyboardEvent) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      void submit();
    }
  };
  const set = (name: string, v: string | boolean) => setRaw((r) => ({ ...r, [name]: v }));

  return (
    <form className="card runform" onSubmit={(e) => void submit(e)} onKeyDown={onKey} aria-label="Run inputs">
      <h2>Run {agent.name}</h2>
      {fields.map((f) => (
        <label key={f.name}>
          {f.label}{f.required ? " *" : ""}
          {f.description && <span className="muted"> — {f.description}</span>}
          {f.kind === "boolean" ? (
            <input type="checkbox" checked={Boolean(raw[f.name])} onChange={(e) => set(f.name, e.target.checked)} />
          ) : f.kind === "enum" ? (
            <select value={String(raw[f.name] ?? "")} onChange={(e) => set(f.name, e.target.value)}>
              <option value="" />
              {f.options.map((o) => <option key={o}>{o}</option>)}
            </select>
          ) : f.kind === "text" || f.kind === "json" ? (
            <textarea rows={4} className={f.kind === "json" ? "mono" : ""} value={String(raw[f.name] ?? "")} onChange={(e) => set(f.name, e.target.value)} />
          ) : (
            <input type={f.kind === "string" ? "text" : "number"} value={String(raw[f.name] ?? "")} onChange={(e) => set(f.name, e.target.value)} />
          )}
        </label>
      ))}
      {!fields.length && (
        <label>
          Inputs (JSON)
          <textarea rows={4} className="mono" value={freeJson} onChange={(e) => setFreeJson(e.target.value)} />
        </label>
      )}
      <Problem error={error} />
      <button type="submit" disabled={busy} title="Ctrl+Enter">Start run</button>
    </form>
  );
}
