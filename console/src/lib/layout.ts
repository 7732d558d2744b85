// Automatic layout, top to bottom. Dagre for small graphs (its crossing minimisation gives
// the nicest pictures but grows superlinearly: about 1.5 s at 500 nodes and 8 s at 1,000 on
// two cores); above SMALL, a linear layered layout of the same family (longest-path ranks,
// a few barycenter sweeps to reduce crossings, rows centred). Both give top-left corners.
import dagre from "@dagrejs/dagre";
import type { AgentGraph } from "./graph";

export const NODE_W = 180;
export const NODE_H = 44;
const GAP_X = 24;
const GAP_Y = 48;
export const SMALL = 100;

export type Positions = Map<string, { x: number; y: number }>;

function dagreLayout(graph: AgentGraph): Positions {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: GAP_X, ranksep: GAP_Y });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: NODE_W, height: NODE_H });
  for (const edge of graph.edges) g.setEdge(edge.source, edge.target);
  dagre.layout(g);
  const out: Positions = new Map();
  for (const node of graph.nodes) {
    const p = g.node(node.id);
    out.set(node.id, { x: p.x - NODE_W / 2, y: p.y - NODE_H / 2 });
  }
  return out;
}

/** Ranks by longest path from the roots (edges of a cycle are ignored), then rows. */
export function layeredLayout(graph: AgentGraph, sweeps = 4): Positions {
  const ids = graph.nodes.map((n) => n.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const preds: number[][] = ids.map(() => []);
  const succs: number[][] = ids.map(() => []);
  for (const e of graph.edges) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined || s === t) continue;
    preds[t].push(s);
    succs[s].push(t);
  }
  // Kahn's order; nodes left over (cycles) keep rank 0 plus whatever reached them.
  const indeg = preds.map((p) => p.length);
  const rank = ids.map(() => 0);
  const queue: number[] = [];
  indeg.forEach((d, i) => d === 0 && queue.push(i));
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head];
    for (const w of succs[v]) {
      rank[w] = Math.max(rank[w], rank[v] + 1);
      if (--indeg[w] === 0) queue.push(w);
    }
  }
  const rows: number[][] = [];
  ids.forEach((_, i) => (rows[rank[i]] ??= []).push(i));
  const order = new Float64Array(ids.length);
  const renumber = (row: number[]) => row.forEach((v, i) => (order[v] = i));
  rows.forEach((row) => row && renumber(row));
  const bary = (v: number, near: number[][]) => {
    const ns = near[v];
    if (!ns.length) return order[v];
    let sum = 0;
    for (const n of ns) sum += order[n];
    return sum / ns.length;
  };
  for (let s = 0; s < sweeps; s++) {
    const down = s % 2 === 0;
    const seq = down ? rows : [...rows].reverse();
    for (const row of seq) {
      if (!row) continue;
      const keys = new Map(row.map((v) => [v, bary(v, down ? preds : succs)]));
      row.sort((a, b) => keys.get(a)! - keys.get(b)! || a - b);
      renumber(row);
    }
  }
  const widest = Math.max(1, ...rows.map((r) => r?.length ?? 0));
  const out: Positions = new Map();
  rows.forEach((row, r) => {
    if (!row) return;
    const offset = ((widest - row.length) * (NODE_W + GAP_X)) / 2;
    row.forEach((v, i) => out.set(ids[v], { x: offset + i * (NODE_W + GAP_X), y: r * (NODE_H + GAP_Y) }));
  });
  return out;
}

export function layoutGraph(graph: AgentGraph): Positions {
  return graph.nodes.length <= SMALL ? dagreLayout(graph) : layeredLayout(graph);
}

/** A key that changes only when the nodes or edges do (not a prompt's wording). */
export function structureKey(graph: AgentGraph): string {
  return graph.nodes.map((n) => `${n.id}:${n.type}`).join(",") + "|" + graph.edges.map((e) => `${e.id}${e.conditional ? "?" : ""}`).join(",");
}

export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}

/** The viewport that shows the nodes `ids` (all when empty) in a `width` x `height` pane,
 * with `padding` (a fraction of the pane) around them, zoom clamped to [min, max]: centred,
 * or with their top at the top of the pane (`top`: the start of a graph that goes on). */
export function fitViewport(
  positions: Positions,
  ids: string[],
  width: number,
  height: number,
  { minZoom, maxZoom, padding = 0.1, top = false }: { minZoom: number; maxZoom: number; padding?: number; top?: boolean },
): Viewport {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const id of ids.length ? ids : positions.keys()) {
    const p = positions.get(id);
    if (!p) continue;
    x0 = Math.min(x0, p.x);
    y0 = Math.min(y0, p.y);
    x1 = Math.max(x1, p.x + NODE_W);
    y1 = Math.max(y1, p.y + NODE_H);
  }
  if (x0 === Infinity) return { x: 0, y: 0, zoom: 1 };
  const w = x1 - x0, h = y1 - y0;
  const zoom = Math.min(maxZoom, Math.max(minZoom, Math.min(width / (w * (1 + padding)), height / (h * (1 + padding)))));
  const y = top ? (height * padding) / 2 - y0 * zoom : height / 2 - (y0 + h / 2) * zoom;
  return { x: width / 2 - (x0 + w / 2) * zoom, y, zoom };
}

/** SVG path data of edges drawn as React Flow draws its default (bezier) edges from a
 * node's bottom centre to another's top centre, each with a closed arrowhead at its end.
 * One string for all the lines and one for all the arrowheads, so a layer of a thousand
 * edges is two DOM elements. */
export function edgePaths(edges: { source: string; target: string }[], positions: Positions): { lines: string; arrows: string } {
  const lines: string[] = [];
  const arrows: string[] = [];
  const r = (v: number) => Math.round(v * 10) / 10;
  for (const e of edges) {
    const s = positions.get(e.source);
    const t = positions.get(e.target);
    if (!s || !t) continue;
    const sx = s.x + NODE_W / 2, sy = s.y + NODE_H;
    const tx = t.x + NODE_W / 2, ty = t.y;
    const d = ty - sy;
    const offset = d >= 0 ? 0.5 * d : 0.25 * 25 * Math.sqrt(-d);
    lines.push(`M${r(sx)} ${r(sy)}C${r(sx)} ${r(sy + offset)} ${r(tx)} ${r(ty - offset)} ${r(tx)} ${r(ty)}`);
    arrows.push(`M${r(tx - 5)} ${r(ty - 9)}L${r(tx)} ${r(ty)}L${r(tx + 5)} ${r(ty - 9)}Z`);
  }
  return { lines: lines.join(""), arrows: arrows.join("") };
}
