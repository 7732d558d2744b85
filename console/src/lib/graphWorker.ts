// The page's side of graph.worker.ts: analyse(source) resolves with the graph and its
// positions. The same source asked twice (the prefetch on a deep link, then the editor) is
// analysed once. Where no worker can run, the analysis runs here instead.
import type { Analysis } from "./analyse";
import type { AnalyseReply, AnalyseRequest } from "./graph.worker";

let worker: Worker | null | undefined;
let nextId = 1;
const waiting = new Map<number, { source: string; resolve: (a: Analysis) => void; reject: (e: unknown) => void }>();
/** The last few sources asked for, newest last, and those already answered. */
const recent = new Map<string, Promise<Analysis>>();
const answered = new Map<string, Analysis>();
const RECENT = 4;
let previous: Analysis | null = null;

async function inThread(source: string): Promise<Analysis> {
  const { analyse } = await import("./analyse");
  previous = analyse(source, previous);
  return previous;
}

function failAll(error: unknown): void {
  worker?.terminate();
  worker = null;
  for (const [id, w] of waiting) {
    waiting.delete(id);
    inThread(w.source).then(w.resolve, () => w.reject(error));
  }
}

function theWorker(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    worker = new Worker(new URL("./graph.worker.ts", import.meta.url), { type: "module", name: "agent-graph" });
  } catch {
    worker = null;
    return worker;
  }
  worker.onmessage = (e: MessageEvent<AnalyseReply>) => {
    const w = waiting.get(e.data.id);
    waiting.delete(e.data.id);
    previous = e.data.analysis;
    w?.resolve(e.data.analysis);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    failAll(e.message);
  };
  worker.onmessageerror = () => failAll("unreadable reply");
  return worker;
}

/** The analysis of `source` if it is already there (no waiting for a promise). */
export function analysed(source: string): Analysis | undefined {
  return answered.get(source);
}

export function analyseSource(source: string): Promise<Analysis> {
  const known = recent.get(source);
  if (known) {
    recent.delete(source);
    recent.set(source, known);
    return known;
  }
  const w = theWorker();
  const p: Promise<Analysis> = w
    ? new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { source, resolve, reject });
        const req: AnalyseRequest = { id, source };
        w.postMessage(req);
      })
    : inThread(source);
  recent.set(source, p);
  while (recent.size > RECENT) {
    const old = recent.keys().next().value!;
    recent.delete(old);
    answered.delete(old);
  }
  p.then(
    (a) => recent.get(source) === p && answered.set(source, a),
    () => recent.delete(source),
  );
  return p;
}
