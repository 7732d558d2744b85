// The approvals inbox as the server's live feed (GET /approvals/stream) describes it: a
// `snapshot` of the whole inbox first (again after each reconnect), then `added` (one entry)
// and `removed` ({run_id}) as runs are interrupted and answered. Newest first.
import type { Run } from "./types";

export type Approval = Run & { agent_name: string };

function newestFirst(a: Approval, b: Approval): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0; // run ids are time-ordered (UUIDv7)
}

/** The inbox after one event of the feed; `null` until the first snapshot. */
export function applyApprovalEvent(items: Approval[] | null, event: string, data: unknown): Approval[] | null {
  if (event === "snapshot") return [...(data as { items: Approval[] }).items].sort(newestFirst);
  if (items === null) return items;
  if (event === "added") {
    const entry = data as Approval;
    return [...items.filter((i) => i.id !== entry.id), entry].sort(newestFirst);
  }
  if (event === "removed") {
    const id = (data as { run_id: string }).run_id;
    return items.some((i) => i.id === id) ? items.filter((i) => i.id !== id) : items;
  }
  return items;
}

/** The entry to keep selected: the same run while it waits, else the one now at its place. */
export function keepSelection(items: Approval[], selectedId: string | null, lastIndex: number): number {
  if (items.length === 0) return -1;
  const at = selectedId === null ? -1 : items.findIndex((i) => i.id === selectedId);
  return at >= 0 ? at : Math.min(Math.max(lastIndex, 0), items.length - 1);
}
