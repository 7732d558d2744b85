// The approvals inbox: runs waiting at a human step (or a tool approval), live from the
// server's feed (GET /approvals/stream: a snapshot, then entries added and removed; a fresh
// snapshot after each reconnect). Nothing is polled.
// Keyboard: j/k or arrows move, a approves, r rejects, e edits the answer, Ctrl+Enter sends it.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, authHeaders, ensureFresh, url } from "../lib/api";
import { applyApprovalEvent, keepSelection, type Approval } from "../lib/approvals";
import { followStream } from "../lib/sse";
import type { Run } from "../lib/types";
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
  const sending = useRef(false); // one answer per run: a second key press waits or is ignored
  const send = useCallback(
    async (value: unknown) => {
      if (sending.current) return;
      sending.current = true;
      setError(null);
      try {
        onAnswered(await resume(run, value));
      } catch (e) {
        sending.current = false;
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

/** Wait ``ms`` (a reconnect's back-off), or less when ``signal`` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = window.setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      window.clearTimeout(t);
      resolve();
    });
  });
}

/** Follow the feed until ``signal`` aborts, reconnecting (with back-off) when it drops or
 * the server ends it (a shut-down); each connection starts with a fresh snapshot. */
async function followApprovals(signal: AbortSignal, apply: (event: string, data: unknown) => void, onLive: (live: boolean) => void, onError: (e: unknown) => void): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    try {
      await ensureFresh(); // a long-open page's access token may have expired
      await followStream(url("/approvals/stream"), {
        headers: authHeaders,
        signal,
        retries: 0,
        final: (e) => e.event === "error",
        onEvent: (e) => {
          let data: unknown = null;
          try {
            data = JSON.parse(e.data);
          } catch {
            return;
          }
          if (e.event === "snapshot") {
            failures = 0;
            onError(null);
            onLive(true);
          }
          apply(e.event, data);
        },
      });
    } catch (e) {
      if (signal.aborted) return;
      failures += 1;
      if (failures > 2) onError(e);
    }
    onLive(false);
    await pause(Math.min(10_000, 500 * 2 ** failures), signal);
  }
}

export default function Approvals() {
  const [items, setItems] = useState<Approval[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const lastIndex = useRef(0);
  const [live, setLive] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    const abort = new AbortController();
    void followApprovals(
      abort.signal,
      (event, data) => setItems((current) => applyApprovalEvent(current, event, data)),
      setLive,
      setError,
    );
    return () => abort.abort();
  }, []);

  const index = items ? keepSelection(items, selected, lastIndex.current) : -1;
  if (index >= 0) lastIndex.current = index;
  const current = index >= 0 && items ? items[index] : null;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement) return;
      if (!items || index < 0) return;
      if (e.key === "j" || e.key === "ArrowDown") setSelected(items[Math.min(items.length - 1, index + 1)].id);
      if (e.key === "k" || e.key === "ArrowUp") setSelected(items[Math.max(0, index - 1)].id);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [items, index]);

  const answered = useCallback((runId: string) => setDone(runId), []);

  return (
    <section>
      <div className="row">
        <h1>Approvals</h1>
        <span className="muted">j/k move · a approve · r reject · e edit · Ctrl+Enter send</span>
        <span className={live ? "ok" : "muted"} aria-label={live ? "Inbox live" : "Inbox connecting"}>
          {live ? "● live" : "○ connecting…"}
        </span>
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
        items.map((r) => (
          <div key={r.id} onClick={() => setSelected(r.id)}>
            <ApprovalCard run={r} active={r.id === current?.id} agentName={r.agent_name} onAnswered={answered} />
          </div>
        ))
      )}
    </section>
  );
}
