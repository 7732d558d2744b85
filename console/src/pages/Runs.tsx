// Runs history with filters (agent, status, time); any run opens in the run view.
import { useEffect, useState } from "react";
import { api } from "../lib/api";
import type { Agent, Run } from "../lib/types";
import { Link } from "../router";
import { Problem } from "../components/Problem";
import { money, when } from "../lib/format";

const STATUSES = ["", "pending", "running", "completed", "failed", "cancelled", "interrupted"];

export default function Runs() {
  const [agents, setAgents] = useState<Agent[]>([]);
  const [agentId, setAgentId] = useState("");
  const [status, setStatus] = useState("");
  const [since, setSince] = useState("");
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<{ items: Agent[] }>("/agents", { query: { limit: 200 } }).then((p) => setAgents(p.items), setError);
  }, []);
  const load = async (more: boolean) => {
    try {
      const page = await api<{ items: Run[]; next_cursor: string | null }>("/runs", {
        query: { agent_id: agentId, status, limit: 50, cursor: more ? cursor : null },
      });
      setRuns((r) => (more && r ? [...r, ...page.items] : page.items));
      setCursor(page.next_cursor);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    void load(false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [agentId, status]);
  const names = Object.fromEntries(agents.map((a) => [a.id, a.name]));
  const from = since ? new Date(since).getTime() : 0;
  const shown = (runs ?? []).filter((r) => new Date(r.created_at).getTime() >= from);
  return (
    <section>
      <div className="row">
        <h1>Runs</h1>
        <span className="grow" />
        <label className="inline">Agent
          <select value={agentId} onChange={(e) => setAgentId(e.target.value)}>
            <option value="">all</option>
            {agents.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
          </select>
        </label>
        <label className="inline">Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => <option key={s} value={s}>{s || "all"}</option>)}
          </select>
        </label>
        <label className="inline">Since
          <input type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
      </div>
      <Problem error={error} />
      {runs === null ? <p className="muted">Loading…</p> : shown.length === 0 ? <p className="muted">No runs.</p> : (
        <table>
          <thead><tr><th>Run</th><th>Agent</th><th>Status</th><th>Created</th><th>Tokens</th><th>Cost</th></tr></thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.id}>
                <td><Link to={`/runs/${r.id}`}>{r.id.slice(0, 8)}…</Link></td>
                <td>{names[r.agent_id] ?? r.agent_id.slice(0, 8)} v{r.agent_version}</td>
                <td><span className={`status s-${r.status}`}>{r.status}</span></td>
                <td>{when(r.created_at)}</td>
                <td>{r.tokens_in + r.tokens_out}</td>
                <td>{money(r.cost_usd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && <button className="secondary" onClick={() => void load(true)}>Load more</button>}
    </section>
  );
}
