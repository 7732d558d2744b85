// The live graph of a definition (React Flow, laid out by dagre). Read-only: the YAML is
// the source of truth; clicking a node jumps to its YAML.
import { memo, useMemo, useRef, useState } from "react";
import { Background, Controls, MarkerType, ReactFlow, type Edge, type Node } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import type { AgentGraph } from "../lib/graph";
import { layoutGraph, NODE_H, NODE_W, SMALL, structureKey } from "../lib/layout";

interface Props {
  graph: AgentGraph;
  /** Per node id: extra CSS classes (error, selected, added, removed, changed, running...). */
  marks?: Record<string, string>;
  onNodeClick?: (id: string) => void;
  label?: string;
}

function GraphViewImpl({ graph, marks, onNodeClick, label }: Props) {
  const [ready, setReady] = useState(false);
  // Re-layout and re-render only when nodes or edges change, not at every keystroke.
  const key = structureKey(graph);
  const latest = useRef(graph);
  latest.current = graph;
  const shape = useMemo(() => latest.current, [key]); // eslint-disable-line react-hooks/exhaustive-deps
  const positions = useMemo(() => layoutGraph(shape), [shape]);
  const fit = useMemo(
    () => (shape.nodes.length > SMALL ? { nodes: shape.nodes.slice(0, 40).map((n) => ({ id: n.id })), minZoom: 0.3 } : undefined),
    [shape],
  );
  const nodes: Node[] = useMemo(
    () =>
      shape.nodes.map((n) => ({
        id: n.id,
        position: positions.get(n.id) ?? { x: 0, y: 0 },
        data: { label: `${n.id} · ${n.type}` },
        className: `gnode t-${n.type} ${marks?.[n.id] ?? ""}`,
        style: { width: NODE_W, height: NODE_H },
        draggable: false,
        connectable: false,
      })),
    [shape, positions, marks],
  );
  const edges: Edge[] = useMemo(
    () =>
      shape.edges.map((e) => ({
        id: e.id,
        source: e.source,
        target: e.target,
        animated: e.conditional,
        className: e.kind === "error" ? "edge-error" : "",
        markerEnd: { type: MarkerType.ArrowClosed },
      })),
    [shape],
  );
  return (
    <div className="graph" aria-label={label ?? "Agent graph"} data-graph-ready={ready ? "true" : "false"} data-node-count={graph.nodes.length}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        onInit={() => setReady(true)}
        onNodeClick={(_, n) => onNodeClick?.(n.id)}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={true}
        onlyRenderVisibleElements
        fitView
        fitViewOptions={fit}
        minZoom={0.05}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

export const GraphView = memo(GraphViewImpl);
