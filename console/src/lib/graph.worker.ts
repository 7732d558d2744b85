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

self.onmessage = (e: MessageEvent<AnalyseRequest>) => {
  last = analyse(e.data.source, last);
  const reply: AnalyseReply = { id: e.data.id, analysis: last };
  self.postMessage(reply);
};
