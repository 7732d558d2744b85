// Automatic layout (dagre, top to bottom). Dagre gives centres; React Flow wants corners.
import dagre from "@dagrejs/dagre";
import type { AgentGraph } from "./graph";

export const NODE_W = 180;
export const NODE_H = 44;

export function layoutGraph(graph: AgentGraph): Map<string, { x: number; y: number }> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 48 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: NODE_W, height: NODE_H });
  for (const edge of graph.edges) g.setEdge(edge.source, edge.target);
  dagre.layout(g);
  const out = new Map<string, { x: number; y: number }>();
  for (const node of graph.nodes) {
    const p = g.node(node.id);
    out.set(node.id, { x: p.x - NODE_W / 2, y: p.y - NODE_H / 2 });
  }
  return out;
}
