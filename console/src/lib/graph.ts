// YAML text -> the agent's graph (nodes with the YAML lines they come from, edges from
// `needs`, `on_error` branches). Pure, so the editor, the diff and the tests share it.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from "yaml";

export interface GraphNode {
  id: string;
  type: string;
  needs: string[];
  when: string | null;
  forEach: string | null;
  onError: string | null;
  /** 1-based first and last line of the node's entry in the YAML. */
  line: number;
  endLine: number;
  /** The node's fields as plain data (for the graph diff). */
  data: Record<string, unknown>;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  kind: "needs" | "error";
  conditional: boolean;
}

export interface YamlProblem {
  line: number;
  message: string;
}

export interface AgentGraph {
  name: string | null;
  inputs: unknown;
  nodes: GraphNode[];
  edges: GraphEdge[];
  problems: YamlProblem[];
  definition: Record<string, unknown> | null;
}

export const EMPTY_GRAPH: AgentGraph = {
  name: null,
  inputs: null,
  nodes: [],
  edges: [],
  problems: [],
  definition: null,
};

function asStringList(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** Parse an agent definition; never throws (YAML errors become problems). */
export function parseAgentYaml(source: string): AgentGraph {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, uniqueKeys: false });
  const lineOf = (offset: number) => lines.linePos(offset).line;
  const problems: YamlProblem[] = doc.errors.map((e) => ({
    line: e.linePos?.[0]?.line ?? 1,
    message: e.message.split("\n")[0],
  }));
  if (problems.length) return { ...EMPTY_GRAPH, problems };
  const root = doc.contents;
  if (!isMap(root)) return { ...EMPTY_GRAPH, problems: [{ line: 1, message: "the definition must be a mapping" }] };
  const definition = doc.toJS() as Record<string, unknown>;
  const seq = root.get("nodes", true) as YamlNode | undefined;
  if (isSeq(seq)) {
    const spans = seq.items.map((item): [number, number] => {
      const range = (item as YamlNode).range ?? [0, 0, 0];
      const first = lineOf(range[0]);
      return [first, Math.max(first, lineOf(Math.max(range[0], range[1] - 1)))];
    });
    return graphOf(definition, definition.nodes, spans, problems);
  }
  if (seq !== undefined && !isScalar(seq)) problems.push({ line: 1, message: "`nodes` must be a list" });
  return graphOf(definition, [], [], problems);
}

/** The graph of an already parsed definition (the server's, of a saved version): the same
 * nodes and edges as its YAML gives, without line numbers (0). */
export function graphOfDefinition(definition: Record<string, unknown>): AgentGraph {
  return graphOf(definition, definition.nodes, null, []);
}

function graphOf(
  definition: Record<string, unknown>,
  items: unknown,
  spans: [number, number][] | null,
  problems: YamlProblem[],
): AgentGraph {
  const plain = Array.isArray(items) ? (items as unknown[]) : [];
  const nodes: GraphNode[] = plain.map((item, index) => {
    const data = (item && typeof item === "object" ? item : {}) as Record<string, unknown>;
    const id = text(data.id) ?? `#${index + 1}`;
    const onError = text(data.on_error);
    const [line, endLine] = spans?.[index] ?? [0, 0];
    return {
      id,
      type: text(data.type) ?? "?",
      needs: asStringList(data.needs),
      when: text(data.when),
      forEach: text(data.for_each),
      onError: onError && onError !== "fail" && onError !== "continue" ? onError : null,
      line,
      endLine,
      data,
    };
  });
  const known = new Set(nodes.map((n) => n.id));
  const edges: GraphEdge[] = [];
  for (const node of nodes) {
    for (const need of node.needs) {
      if (!known.has(need)) {
        problems.push({ line: node.line || 1, message: `${node.id}: needs unknown node ${need}` });
        continue;
      }
      edges.push({
        id: `${need}->${node.id}`,
        source: need,
        target: node.id,
        kind: "needs",
        conditional: node.when !== null,
      });
    }
    if (node.onError && known.has(node.onError)) {
      edges.push({
        id: `${node.id}-error->${node.onError}`,
        source: node.id,
        target: node.onError,
        kind: "error",
        conditional: true,
      });
    }
  }
  return {
    name: text(definition.name),
    inputs: definition.inputs ?? null,
    nodes,
    edges,
    problems,
    definition,
  };
}

/** The node whose YAML entry contains this 1-based line, if any. */
export function nodeAtLine(graph: AgentGraph, line: number): GraphNode | null {
  return graph.nodes.find((n) => line >= n.line && line <= n.endLine) ?? null;
}

/** The node a server validation error names (`node`, or a `nodes[3].x` field). */
export function nodeOfError(
  graph: AgentGraph,
  error: { node?: string | null; field?: string | null },
): GraphNode | null {
  if (error.node) {
    const byId = graph.nodes.find((n) => n.id === error.node);
    if (byId) return byId;
  }
  const match = /^nodes\[(\d+)\]/.exec(error.field ?? "");
  return match ? (graph.nodes[Number(match[1])] ?? null) : null;
}
