// The graph diff between two versions of a definition: nodes added, removed and changed
// (any field differs), edges added and removed. Pure.
import type { AgentGraph } from "./graph";

export type NodeChange = "added" | "removed" | "changed" | "same";

export interface GraphDiff {
  nodes: Record<string, NodeChange>;
  added: string[];
  removed: string[];
  changed: string[];
  edgesAdded: string[];
  edgesRemoved: string[];
}

/** Structural equality of plain JSON values (key order does not matter). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((v, i) => sameValue(v, other[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const key of keys) if (!sameValue(ao[key], bo[key])) return false;
  return true;
}

export function diffGraphs(before: AgentGraph, after: AgentGraph): GraphDiff {
  const old = new Map(before.nodes.map((n) => [n.id, n]));
  const now = new Map(after.nodes.map((n) => [n.id, n]));
  const nodes: Record<string, NodeChange> = {};
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [id, node] of now) {
    const prev = old.get(id);
    if (!prev) {
      nodes[id] = "added";
      added.push(id);
    } else if (!sameValue(prev.data, node.data)) {
      nodes[id] = "changed";
      changed.push(id);
    } else nodes[id] = "same";
  }
  for (const id of old.keys()) {
    if (!now.has(id)) {
      nodes[id] = "removed";
      removed.push(id);
    }
  }
  const oldEdges = new Set(before.edges.map((e) => e.id));
  const newEdges = new Set(after.edges.map((e) => e.id));
  return {
    nodes,
    added,
    removed,
    changed,
    edgesAdded: [...newEdges].filter((e) => !oldEdges.has(e)),
    edgesRemoved: [...oldEdges].filter((e) => !newEdges.has(e)),
  };
}

/** Both graphs' nodes and edges in one graph (removed ones kept), to draw a diff. */
export function unionGraph(before: AgentGraph, after: AgentGraph): AgentGraph {
  const ids = new Set(after.nodes.map((n) => n.id));
  const edgeIds = new Set(after.edges.map((e) => e.id));
  return {
    ...after,
    nodes: [...after.nodes, ...before.nodes.filter((n) => !ids.has(n.id))],
    edges: [...after.edges, ...before.edges.filter((e) => !edgeIds.has(e.id))],
  };
}
