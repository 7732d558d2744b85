// The live graph of a definition (React Flow; dagre or the layered layout). Read-only: the
// YAML is the source of truth; clicking a node jumps to its YAML.
//
// Fast for large graphs:
// - positions usually come from the graph worker (the page never parses or lays out);
// - nodes arrive with their size, and React Flow starts with the pane's size and the final
//   viewport, so its first render draws the visible nodes at once: no hidden measuring pass,
//   no fitView afterwards, nothing off screen rendered;
// - nodes whose position, label and marks did not change keep their objects, so React Flow
//   re-renders only the ones that did (a cursor move re-renders two nodes, not five hundred);
// - edges are not React Flow edges (a component with store subscriptions each, which cost
//   as much as the nodes): one SVG layer in React Flow's viewport draws all of them, as
//   React Flow's bezier edges with arrowheads, in five paths.
// The graph says data-graph-ready="true" in the commit that puts its nodes and edges on the
// page (the next frame shows them).
import { memo, useLayoutEffect, useMemo, useRef, useState } from "react";
import { createPortal } from "react-dom";
import { Background, Controls, ReactFlow, useStore, type Node, type NodeProps, type ReactFlowState } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import type { AgentGraph, GraphEdge } from "../lib/graph";
import { edgePaths, fitViewport, layoutGraph, NODE_H, NODE_W, SMALL, structureKey, type Positions, type Viewport } from "../lib/layout";

interface Props {
  /** null: not analysed yet (a placeholder is shown). */
  graph: AgentGraph | null;
  /** Positions laid out elsewhere (the graph worker) for this graph; else laid out here. */
  positions?: Positions;
  /** Per node id: extra CSS classes (error, selected, added, removed, changed, running...). */
  marks?: Record<string, string>;
  onNodeClick?: (id: string) => void;
  label?: string;
}

interface Label extends Record<string, unknown> {
  label: string;
}

const NodeBox = memo(function NodeBox({ data }: NodeProps<Node<Label>>) {
  return <>{data.label}</>;
});
const NODE_TYPES = { default: NodeBox };
const ORIGIN = { x: 0, y: 0 };
const MIN_ZOOM = 0.05;
/** A large graph opens at the top, on its first nodes, at a zoom where labels can be read
 * (the fit-view control shows all of it). */
const FIRST = 40;
const READABLE = 0.6;

function marksKey(marks: Record<string, string> | undefined): string {
  if (!marks) return "";
  return Object.keys(marks)
    .filter((k) => marks[k].trim())
    .sort()
    .map((k) => `${k}=${marks[k].trim()}`)
    .join("|");
}

const portal = (s: ReactFlowState) => s.domNode?.querySelector(".react-flow__viewport-portal") ?? null;

/** All edges, in React Flow's viewport (below the nodes); `onDrawn` once they are in the
 * page, in the same commit as the visible nodes. */
const EdgeLayer = memo(function EdgeLayer({ edges, positions, onDrawn }: { edges: GraphEdge[]; positions: Positions; onDrawn: () => void }) {
  const target = useStore(portal);
  useLayoutEffect(() => {
    if (target) onDrawn();
  }, [target, onDrawn]);
  const kinds = useMemo(() => {
    const plain = edges.filter((e) => e.kind === "needs" && !e.conditional);
    const cond = edges.filter((e) => e.kind === "needs" && e.conditional);
    const err = edges.filter((e) => e.kind === "error");
    return { plain: edgePaths(plain, positions), cond: edgePaths(cond, positions), err: edgePaths(err, positions) };
  }, [edges, positions]);
  if (!target) return null;
  return createPortal(
    <svg className="graph-edges" aria-hidden="true" data-edge-count={edges.length}>
      <path className="e" d={kinds.plain.lines} />
      <path className="e cond" d={kinds.cond.lines} />
      <path className="e err" d={kinds.err.lines} />
      <path className="arrow" d={kinds.plain.arrows + kinds.cond.arrows} />
      <path className="arrow err" d={kinds.err.arrows} />
    </svg>,
    target,
  );
});

function GraphViewImpl({ graph, positions: given, marks, onNodeClick, label }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  const analysed = graph !== null;
  useLayoutEffect(() => {
    const el = host.current;
    if (analysed && el && !size) setSize({ width: el.clientWidth, height: el.clientHeight });
  }, [analysed, size]);

  // Re-layout and re-render only when nodes or edges change, not at every keystroke.
  const key = graph ? structureKey(graph) : null;
  const latest = useRef({ graph, given, marks, onNodeClick });
  latest.current = { graph, given, marks, onNodeClick };
  const shape = useMemo(() => latest.current.graph, [key]); // eslint-disable-line react-hooks/exhaustive-deps
  const positions = useMemo(() => (shape ? (latest.current.given ?? layoutGraph(shape)) : null), [shape]);
  const mk = marksKey(marks);

  const cache = useRef(new Map<string, Node<Label>>());
  const nodes = useMemo(() => {
    if (!shape || !positions) return [];
    const m = latest.current.marks ?? {};
    const next = new Map<string, Node<Label>>();
    const out = shape.nodes.map((n) => {
      const position = positions.get(n.id) ?? ORIGIN;
      const className = `gnode t-${n.type} ${m[n.id] ?? ""}`;
      const text = `${n.id} · ${n.type}`;
      const old = cache.current.get(n.id);
      const node: Node<Label> =
        old && old.position.x === position.x && old.position.y === position.y && old.className === className && old.data.label === text
          ? old
          : {
              id: n.id,
              position,
              data: { label: text },
              className,
              width: NODE_W,
              height: NODE_H,
              measured: { width: NODE_W, height: NODE_H },
              draggable: false,
              connectable: false,
            };
      next.set(n.id, node);
      return node;
    });
    cache.current = next;
    return out;
  }, [shape, positions, mk]);

  // The viewport React Flow starts with: computed once, from the pane's size at mount.
  const start = useRef<Viewport | null | undefined>(undefined);
  const first = shape && shape.nodes.length > SMALL ? shape.nodes.slice(0, FIRST).map((n) => n.id) : [];
  if (start.current === undefined && positions && size) {
    start.current =
      size.width > 0 && size.height > 0
        ? fitViewport(positions, first, size.width, size.height, first.length ? { minZoom: READABLE, maxZoom: 1, top: true } : { minZoom: MIN_ZOOM, maxZoom: 1.5 })
        : null; // hidden: React Flow fits the view once it has a size
  }
  const [click] = useState(() => (_: unknown, n: Node) => latest.current.onNodeClick?.(n.id));
  const [drawn] = useState(() => () => host.current?.setAttribute("data-graph-ready", "true"));

  return (
    <div className="graph" ref={host} aria-label={label ?? "Agent graph"} data-node-count={graph?.nodes.length ?? 0}>
      {shape && positions && size && start.current !== undefined ? (
        <ReactFlow
          nodes={nodes}
          nodeTypes={NODE_TYPES}
          onNodeClick={click}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={true}
          onlyRenderVisibleElements
          {...(start.current
            ? { width: size.width, height: size.height, defaultViewport: start.current }
            : { fitView: true, fitViewOptions: first.length ? { nodes: first.map((id) => ({ id })), minZoom: READABLE } : undefined })}
          minZoom={MIN_ZOOM}
          proOptions={{ hideAttribution: true }}
        >
          <EdgeLayer edges={shape.edges} positions={positions} onDrawn={drawn} />
          <Background />
          <Controls showInteractive={false} />
        </ReactFlow>
      ) : (
        <p className="muted pad">Laying out the graph…</p>
      )}
    </div>
  );
}

export const GraphView = memo(GraphViewImpl);
