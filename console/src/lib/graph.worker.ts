// Web Worker: parses agent YAML and lays out its graph off the page's main thread, so a
// 500-node definition neither delays the first paint nor stalls typing.
import { analyse, type Analysis } from "./analyse";

export interface AnalyseRequest {
  id: number;
  source: string;
}

export interface AnalyseReply {
  id: number;
  analysis: Analysis;
}

let last: Analysis | null = null;

/** What the editor reads of an analysis: not the parsed definition nor each node's fields
 * (the history's diff parses on its own), so the page has less to copy in. */
function lean(a: Analysis): Analysis {
  return { ...a, graph: { ...a.graph, definition: null, nodes: a.graph.nodes.map((n) => ({ ...n, data: {} })) } };
}

self.onmessage = (e: MessageEvent<AnalyseRequest>) => {
  last = analyse(e.data.source, last);
  const reply: AnalyseReply = { id: e.data.id, analysis: lean(last) };
  self.postMessage(reply);
};
