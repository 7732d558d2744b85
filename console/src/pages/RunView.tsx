// One run, live: a timeline of its steps (from the journal) with tokens streaming into llm and
// agent steps, tool calls, and per step input, output, error, attempts, duration, tokens, cost.
// Sub-agents: a child run links to its parent (`parent_run_id`), and each step lists the
// child runs it started (the parent's `subagent.started` / `subagent.ended` events).
import { useCallback, useEffect, useRef, useState } from "react";
import { api, authHeaders, ensureFresh, url } from "../lib/api";
import { followStream } from "../lib/sse";
import type { Agent, Run, Step } from "../lib/types";
import { Link, navigate } from "../router";
import { Problem } from "../components/Problem";
import { json, money, ms, when } from "../lib/format";
import { startRun } from "./RunForm";
import { ApprovalCard } from "./Approvals";

interface ToolCall {
  id: string;
  node: string;
  name: string;
  arguments: unknown;
  result?: unknown;
  error?: unknown;
}

interface ChildRun {
  runId: string;
  node: string;
  agent: string;
  status?: string;
}

const FINAL = new Set(["run.completed", "run.failed", "run.cancelled", "run.interrupted"]);
const ACTIVE = new Set(["pending", "running"]);

export default function RunView({ runId }: { runId: string }) {
  const [run, setRun] = useState<Run | null>(null);
  const [agent, setAgent] = useState<Agent | null>(null);
  const [steps, setSteps] = useState<Step[]>([]);
  const [live, setLive] = useState<Record<string, string>>({});
  const [running, setRunning] = useState<Set<string>>(new Set());
  const [tools, setTools] = useState<ToolCall[]>([]);
  const [children, setChildren] = useState<ChildRun[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [connected, setConnected] = useState(false);
  const [threadRuns, setThreadRuns] = useState<Run[]>([]);
  const timer = useRef<number | null>(null);

  const refresh = useCallback(async () => {
    const [r, s] = await Promise.all([api<Run>(`/runs/${runId}`), api<{ items: Step[] }>(`/runs/${runId}/steps`)]);
    setRun(r);
    setSteps(s.items);
    if (r.thread_id) {
      const t = await api<{ items: Run[] }>("/runs", { query: { thread_id: r.thread_id, limit: 100 } });
      setThreadRuns(t.items);
    }
    return r;
  }, [runId]);

  const soon = useCallback(() => {
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      void refresh();
    }, 60);
  }, [refresh]);

  useEffect(() => {
    const abort = new AbortController();
    (async () => {
      const r = await refresh();
      api<Agent>(`/agents/${r.agent_id}`).then(setAgent, () => undefined);
      if (r.thread_id && r.status === "interrupted") {
        const later = await api<{ items: Run[] }>("/runs", { query: { thread_id: r.thread_id, limit: 1 } });
        if (later.items[0] && later.items[0].id !== r.id) setNext(later.items[0].id);
      }
      await ensureFresh();
      await followStream(url(`/runs/${runId}/events`), {
        headers: authHeaders,
        signal: abort.signal,
        final: (e) => FINAL.has(e.event),
        onEvent: (e) => {
          setConnected(true); // the server subscribes before it replays: nothing is missed now
          let data: Record<string, unknown> = {};
          try {
            data = JSON.parse(e.data) as Record<string, unknown>;
          } catch {
            /* not JSON */
          }
          const node = String(data.node ?? "");
          if (e.event === "message.delta") {
            setLive((l) => ({ ...l, [node]: (l[node] ?? "") + String(data.delta ?? "") }));
            return;
          }
          if (e.event === "step.started") setRunning((s) => new Set(s).add(node));
          if (e.event === "step.completed" || e.event === "step.failed") {
            setRunning((s) => {
              const n = new Set(s);
              n.delete(node);
              return n;
            });
          }
          if (FINAL.has(e.event)) setRunning(new Set());
          if (e.event === "tool.called") {
            setTools((t) => [...t.filter((x) => x.id !== data.call_id), { id: String(data.call_id), node, name: String(data.name), arguments: data.arguments }]);
          }
          if (e.event === "subagent.started" || e.event === "subagent.ended") {
            const child: ChildRun = { runId: String(data.run_id), node, agent: String(data.agent), status: data.status as string | undefined };
            setChildren((c) => [...c.filter((x) => x.runId !== child.runId), child]);
          }
          if (e.event === "tool.result") {
            setTools((t) => t.map((x) => (x.id === data.call_id ? { ...x, result: data.result, error: data.error } : x)));
          }
          soon();
        },
      });
      setConnected(false);
      if (!abort.signal.aborted) await refresh();
    })().catch((e) => {
      if (!abort.signal.aborted) setError(e);
    });
    return () => abort.abort();
  }, [runId, refresh, soon]);

  if (error && !run) return <Problem error={error} />;
  if (!run) return <p className="muted">Loading…</p>;

  const cancel = async () => {
    try {
      setRun(await api<Run>(`/runs/${runId}/cancel`, { method: "POST" }));
    } catch (e) {
      setError(e);
    }
  };
  const rerun = async () => {
    try {
      navigate(`/runs/${await startRun({ id: run.agent_id, space_id: run.space_id }, run.inputs ?? {})}`);
    } catch (e) {
      setError(e);
    }
  };
  // A resumed run carries on its thread: count every run of the thread up to this one.
  const totals = [run, ...threadRuns.filter((r) => r.id !== run.id && r.created_at <= run.created_at)].reduce(
    (t, r) => ({ tokensIn: t.tokensIn + r.tokens_in, tokensOut: t.tokensOut + r.tokens_out, cost: t.cost + r.cost_usd }),
    { tokensIn: 0, tokensOut: 0, cost: 0 },
  );
  const pendingLive = [...running].filter((n) => !steps.some((s) => s.node_id === n));

  return (
    <section>
      <div className="row">
        <h1>
          <Link to="/runs">Runs</Link> / {agent ? <Link to={`/agents/${agent.id}`}>{agent.name}</Link> : "run"} v{run.agent_version}
        </h1>
        <span className={`status s-${run.status}`} aria-label="Run status">{run.status}</span>
        {connected && <span className="live" aria-label="Following live">● live</span>}
        <span className="grow" />
        {ACTIVE.has(run.status) && <button className="danger" onClick={() => void cancel()}>Cancel</button>}
        <button className="secondary" onClick={() => void rerun()}>Rerun</button>
      </div>
      <Problem error={error} />
      <dl className="facts">
        {run.parent_run_id && (
          <>
            <dt>Parent run</dt>
            <dd><Link to={`/runs/${run.parent_run_id}`} aria-label="Parent run">sub-agent run of {run.parent_run_id.slice(0, 8)}</Link></dd>
          </>
        )}
        <dt>Started</dt><dd>{when(run.started_at ?? run.created_at)}</dd>
        <dt>Ended</dt><dd>{when(run.ended_at)}</dd>
        <dt>Tokens</dt>
        <dd>
          <span aria-label="Run tokens">{totals.tokensIn} in / {totals.tokensOut} out</span>
          <span className="muted"> (with the runs it resumes; this run: {run.tokens_in} in / {run.tokens_out} out)</span>
        </dd>
        <dt>Cost</dt>
        <dd>
          <span aria-label="Run cost">{money(totals.cost)}</span>
          <span className="muted"> (this run: {money(run.cost_usd)})</span>
        </dd>
        <dt>Inputs</dt><dd><pre>{json(run.inputs)}</pre></dd>
      </dl>
      {run.status === "interrupted" && run.interrupt && !next && (
        <ApprovalCard run={run} onAnswered={(id) => navigate(`/runs/${id}`)} />
      )}
      {next && (
        <p className="note">This run was answered and continues in <Link to={`/runs/${next}`}>the next run</Link>.</p>
      )}
      {run.status === "completed" && (
        <div className="card">
          <h2>Output</h2>
          <pre aria-label="Run output">{json(run.output)}</pre>
        </div>
      )}
      {run.error && <div className="error" role="alert"><pre>{json(run.error)}</pre></div>}
      <h2>Steps</h2>
      <ol className="timeline" aria-label="Steps">
        {steps.map((s) => {
          const key = s.id;
          const nodeTools = tools.filter((t) => t.node === s.node_id);
          const latest = !steps.some((x) => x.node_id === s.node_id && x.attempt > s.attempt);
          const nodeChildren = latest ? children.filter((c) => c.node === s.node_id) : [];
          return (
            <li key={key} className={`step s-${s.status}`}>
              <button className="steprow" onClick={() => setOpen(open === key ? null : key)} aria-expanded={open === key}>
                <span className="node">{s.node_id}{s.index !== null ? `[${s.index}]` : ""}</span>
                <span className={`status s-${s.status}`}>{s.status}</span>
                <span className="muted">attempt {s.attempt}</span>
                <span className="muted">{ms(s.duration_ms)}</span>
                <span className="muted">{s.tokens_in + s.tokens_out} tokens</span>
                <span className="muted">{money(s.cost_usd)}</span>
              </button>
              {s.status === "running" && live[s.node_id] && <pre className="tokens" aria-label={`Tokens of ${s.node_id}`}>{live[s.node_id]}</pre>}
              {nodeTools.length > 0 && (
                <ul className="tools">
                  {nodeTools.map((t) => (
                    <li key={t.id}>
                      <strong>{t.name}</strong>({json(t.arguments)}) → {t.error ? <span className="error">{json(t.error)}</span> : json(t.result)}
                    </li>
                  ))}
                </ul>
              )}
              {nodeChildren.length > 0 && (
                <ul className="tools" aria-label={`Sub-agent runs of ${s.node_id}`}>
                  {nodeChildren.map((c) => (
                    <li key={c.runId}>
                      sub-agent <strong>{c.agent}</strong>: <Link to={`/runs/${c.runId}`}>run {c.runId.slice(0, 8)}</Link>
                      {c.status && <span className={`status s-${c.status}`}>{c.status}</span>}
                    </li>
                  ))}
                </ul>
              )}
              {open === key && (
                <div className="stepdetail">
                  <h3>Input</h3><pre>{json(s.input)}</pre>
                  <h3>Output</h3><pre>{json(s.output)}</pre>
                  {s.error && (<><h3>Error</h3><pre className="error">{json(s.error)}</pre></>)}
                  <p className="muted">{s.tokens_in} tokens in, {s.tokens_out} out · started {when(s.started_at)}</p>
                </div>
              )}
            </li>
          );
        })}
        {pendingLive.map((n) => (
          <li key={`live-${n}`} className="step s-running">
            <div className="steprow"><span className="node">{n}</span><span className="status s-running">running</span></div>
            {live[n] && <pre className="tokens" aria-label={`Tokens of ${n}`}>{live[n]}</pre>}
          </li>
        ))}
      </ol>
      {Object.keys(live).length > 0 && (
        <details open>
          <summary>Streamed tokens</summary>
          {Object.entries(live).map(([n, t]) => (
            <div key={n}><strong>{n}</strong><pre className="tokens" aria-label={`Streamed tokens of ${n}`}>{t}</pre></div>
          ))}
        </details>
      )}
    </section>
  );
}
