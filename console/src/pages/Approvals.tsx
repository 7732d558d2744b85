// The approvals inbox: runs waiting at a human step (or a tool approval), refreshed live.
// Keyboard: j/k or arrows move, a approves, r rejects, e edits the answer, Ctrl+Enter sends it.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../lib/api";
import type { Agent, Run } from "../lib/types";
import { Link } from "../router";
import { Problem } from "../components/Problem";
import { json, when } from "../lib/format";

function answers(schema: unknown): { approve: unknown; reject: unknown } {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (s.type === "boolean") return { approve: true, reject: false };
  if (s.type === "string") return { approve: "approved", reject: "rejected" };
  return { approve: { approved: true }, reject: { approved: false } };
}

/** Resume an interrupted run on its thread with `value`; the new run's id. */
async function resume(run: Run, value: unknown): Promise<string> {
  const created = await api<{ run_id: string }>(`/threads/${run.thread_id}/runs`, {
    method: "POST",
    body: { assistant_id: run.agent_id, command: { resume: value } },
  });
  return created.run_id;
}

export function ApprovalCard({ run, onAnswered, active, agentName }: { run: Run; onAnswered: (runId: string) => void; active?: boolean; agentName?: string }) {
  const { approve, reject } = answers(run.interrupt?.schema);
  const [edit, setEdit] = useState(json(approve));
  const [error, setError] = useState<unknown>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const send = useCallback(
    async (value: unknown) => {
      setError(null);
      try {
        onAnswered(await resume(run, value));
      } catch (e) {
        setError(e);
      }
    },
    [run, onAnswered],
  );
  const sendEdited = () => {
    try {
      void send(JSON.parse(edit));
    } catch {
      setError(new Error("the answer must be JSON"));
    }
  };
  useEffect(() => {
    if (!active) return;
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement;
      if (typing) {
        if (e.key === "Escape") (e.target as HTMLElement).blur();
        return;
      }
      if (e.key === "a") void send(approve);
      else if (e.key === "r") void send(reject);
      else if (e.key === "e") {
        e.preventDefault();
        area.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, send, approve, reject]);
  return (
    <div className={`card approval ${active ? "active" : ""}`} aria-label={`Approval for ${agentName ?? run.agent_id}`}>
      <p>
        <strong>{agentName ?? "Run"}</strong> waits at <code>{run.interrupt?.node}</code>: {String(run.interrupt?.message ?? "")}
      </p>
      <p className="muted">
        <Link to={`/runs/${run.id}`}>Open run</Link> · waiting since {when(run.ended_at ?? run.created_at)}
      </p>
      {run.interrupt?.schema ? <pre className="muted">schema: {json(run.interrupt.schema)}</pre> : null}
      <label>
        Answer (JSON; becomes the step's output)
        <textarea
          ref={area}
          className="mono"
          rows={3}
          value={edit}
          onChange={(e) => setEdit(e.target.value)}
          onKeyDown={(e) => {
            if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
              e.preventDefault();
              sendEdited();
            }
          }}
        />
      </label>
      <Problem error={error} />
      <div className="row">
        <button onClick={() => void send(approve)} title="a">Approve</button>
        <button className="danger" onClick={() => void send(reject)} title="r">Reject</button>
        <button className="secondary" onClick={sendEdited} title="e, then Ctrl+Enter">Send edited answer</button>
      </div>
    </div>
  );
}

export default function Approvals() {
  const [items, setItems] = useState<Run[] | null>(null);
  const [agents, setAgents] = useState<Record<string, string>>({});
  const [sel, setSel] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);

  const load = useCallback(async () => {
    const page = await api<{ items: Run[] }>("/runs", { query: { status: "interrupted", limit: 100 } });
    // A run answered already has a newer run on its thread.
    const open = await Promise.all(
      page.items.map(async (r) => {
        if (!r.thread_id) return null;
        const latest = await api<{ items: Run[] }>("/runs", { query: { thread_id: r.thread_id, limit: 1 } });
        return latest.items[0]?.id === r.id ? r : null;
      }),
    );
    setItems(open.filter((r): r is Run => r !== null));
  }, []);

  useEffect(() => {
    api<{ items: Agent[] }>("/agents", { query: { limit: 200 } }).then(
      (p) => setAgents(Object.fromEntries(p.items.map((a) => [a.id, a.name]))),
      () => undefined,
    );
    let stop = false;
    const tick = async () => {
      if (stop) return;
      if (document.visibilityState === "visible") await load().catch(setError);
      if (!stop) window.setTimeout(() => void tick(), 2000);
    };
    void tick();
    return () => {
      stop = true;
    };
  }, [load]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement) return;
      if (e.key === "j" || e.key === "ArrowDown") setSel((s) => Math.min((items?.length ?? 1) - 1, s + 1));
      if (e.key === "k" || e.key === "ArrowUp") setSel((s) => Math.max(0, s - 1));
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [items]);

  const answered = (runId: string) => {
    setDone(runId);
    void load();
  };

  return (
    <section>
      <div className="row">
        <h1>Approvals</h1>
        <span className="muted">j/k move · a approve · r reject · e edit · Ctrl+Enter send</span>
      </div>
      <Problem error={error} />
      {done && (
        <p className="ok" role="status">
          Answered. <Link to={`/runs/${done}`}>Follow the run</Link>
        </p>
      )}
      {items === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p className="muted">Nothing waits for you.</p>
      ) : (
        items.map((r, i) => (
          <div key={r.id} onClick={() => setSel(i)}>
            <ApprovalCard run={r} active={i === sel} agentName={agents[r.agent_id]} onAnswered={answered} />
          </div>
        ))
      )}
    </section>
  );
}

