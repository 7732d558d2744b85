// YAML text -> graph and node positions in one pure step, so a Web Worker can do it away
// from the page (graph.worker.ts) and tests can call it directly. Laying out again is
// skipped when only wording changed (same nodes and edges, same structure key).
import { parseAgentYaml, type AgentGraph } from "./graph";
import { layoutGraph, structureKey, type Positions } from "./layout";

export interface Analysis {
  graph: AgentGraph;
  /** Changes only when the nodes or edges do: equal keys, equal positions. */
  key: string;
  positions: Positions;
}

export function analyse(source: string, previous: Pick<Analysis, "key" | "positions"> | null = null): Analysis {
  const graph = parseAgentYaml(source);
  const key = structureKey(graph);
  const positions = previous && previous.key === key ? previous.positions : layoutGraph(graph);
  return { graph, key, positions };
}
