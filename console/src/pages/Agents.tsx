import { useEffect, useState } from "react";
import { useApp } from "../App";
import { api, all } from "../lib/api";
import type { Agent } from "../lib/types";
import { Link, navigate } from "../router";
import { Problem } from "../components/Problem";
import { when } from "../lib/format";

const TEMPLATE = (name: string) => `name: ${name}
description: A new agent
inputs:
  type: object
  properties:
    question:
      type: string
  required: [question]
nodes:
  - id: answer
    type: llm
    prompt: "{{ inputs.question }}"
`;

export default function Agents() {
  const { space } = useApp();
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [q, setQ] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [importing, setImporting] = useState(false);
  const [yaml, setYaml] = useState("");

  useEffect(() => {
    all<Agent>("/agents").then(setAgents, setError);
  }, []);

  const create = async () => {
    if (!space) return;
    const name = prompt("Name of the new agent (lowercase, digits, - and _)", "my-agent");
    if (!name) return;
    try {
      const a = await api<Agent>("/agents", { method: "POST", body: { space_id: space.id, source: TEMPLATE(name) } });
      navigate(`/agents/${a.id}`);
    } catch (e) {
      setError(e);
    }
  };
  const doImport = async (text: string) => {
    if (!space) return;
    try {
      const a = await api<{ id: string }>("/agents/import", {
        method: "POST",
        raw: text,
        contentType: "application/yaml",
        query: { space_id: space.id },
      });
      navigate(`/agents/${a.id}`);
    } catch (e) {
      setError(e);
    }
  };
  const shown = (agents ?? []).filter((a) => !q || a.name.includes(q.toLowerCase()) || (a.description ?? "").toLowerCase().includes(q.toLowerCase()));

  return (
    <section>
      <div className="row">
        <h1>Agents</h1>
        <span className="grow" />
        <input type="search" placeholder="Search agents" aria-label="Search agents" value={q} onChange={(e) => setQ(e.target.value)} />
        <button onClick={() => void create()}>New agent</button>
        <button className="secondary" onClick={() => setImporting((v) => !v)}>Import YAML</button>
      </div>
      <Problem error={error} />
      {importing && (
        <div className="card">
          <label>
            YAML to import
            <textarea rows={12} value={yaml} onChange={(e) => setYaml(e.target.value)} spellCheck={false} className="mono" />
          </label>
          <div className="row">
            <input
              type="file"
              accept=".yaml,.yml,text/yaml"
              aria-label="YAML file"
              onChange={async (e) => {
                const f = e.target.files?.[0];
                if (f) setYaml(await f.text());
              }}
            />
            <span className="grow" />
            <button onClick={() => void doImport(yaml)} disabled={!yaml.trim()}>Import</button>
          </div>
        </div>
      )}
      {agents === null ? (
        <p className="muted">Loading…</p>
      ) : shown.length === 0 ? (
        <p className="muted">No agents yet. Create one or import a YAML definition.</p>
      ) : (
        <table>
          <thead>
            <tr><th>Name</th><th>Description</th><th>Version</th><th>Updated</th></tr>
          </thead>
          <tbody>
            {shown.map((a) => (
              <tr key={a.id}>
                <td><Link to={`/agents/${a.id}`}>{a.name}</Link></td>
                <td>{a.description}</td>
                <td>v{a.current_version}</td>
                <td>{when(a.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
