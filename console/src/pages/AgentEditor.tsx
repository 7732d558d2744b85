// The agent editor: YAML beside its live graph, explicit versioned saves (Ctrl+S) refused
// when someone else saved meanwhile, a browser draft that survives reloads, version history
// with YAML and graph diffs, restore as a new version, run, export.
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { stringify } from "yaml";
import { api, ApiError, type FieldError } from "../lib/api";
import { draftKey, loadAgent, readDraft } from "../lib/agentLoad";
import type { Analysis } from "../lib/analyse";
import { analysed, analyseSource } from "../lib/graphWorker";
import { EMPTY_GRAPH, graphOfDefinition, parseAgentYaml, nodeAtLine, nodeOfError, type AgentGraph } from "../lib/graph";
import { layoutGraph, structureKey } from "../lib/layout";
import { diffGraphs, unionGraph } from "../lib/diff";
import type { Agent, AgentVersion } from "../lib/types";
import { Link } from "../router";
import { YamlEditor, type LineProblem, type YamlEditorHandle } from "../components/YamlEditor";
import { GraphView } from "../components/GraphView";
import { Problem, errorText } from "../components/Problem";
import { when } from "../lib/format";
import { RunForm } from "./RunForm";

// The history's YAML diff (@codemirror/merge) loads when the History tab first shows one.
const DiffView = lazy(() => import("../components/DiffView").then((m) => ({ default: m.DiffView })));

export function sourceOf(v: AgentVersion): string {
  return v.source ?? stringify(v.definition);
}

/** The graph of a saved version at once, from the definition the server already parsed;
 * the YAML's line numbers follow from the graph worker. */
function savedAnalysis(v: AgentVersion): Analysis {
  const graph = graphOfDefinition(v.definition);
  return { graph, key: structureKey(graph), positions: layoutGraph(graph) };
}

/** `value` after it stopped changing for `ms`; the first non-empty value at once. */
function useDebounced(value: string, ms: number): string {
  const [v, setV] = useState(value);
  useEffect(() => {
    if (v === "" && value !== "") {
      setV(value);
      return;
    }
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms, v]);
  return v;
}

export default function AgentEditor({ agentId }: { agentId: string }) {
  const [agent, setAgent] = useState<Agent | null>(null);
  const [base, setBase] = useState<AgentVersion | null>(null);
  const [text, setText] = useState<string | null>(null);
  const [restored, setRestored] = useState(false);
  const [serverErrors, setServerErrors] = useState<FieldError[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [conflict, setConflict] = useState<number | null>(null);
  const [tab, setTab] = useState<"edit" | "history" | "run">("edit");
  const [line, setLine] = useState(1);
  const [analysis, setAnalysis] = useState<Analysis | null>(null);
  /** The first graph came from the saved definition: the worker's analysis can wait until
   * it is painted (it only adds line numbers), so they do not compete for the CPU. */
  const afterPaint = useRef(false);
  const editor = useRef<YamlEditorHandle>(null);
  const latestText = useRef<string | null>(null);
  latestText.current = text;

  const load = useCallback(async () => {
    // The first load may have started with the app (a deep link); later ones fetch afresh.
    const { agent: a, version: v } = await loadAgent(agentId);
    setAgent(a);
    setBase(v);
    return { a, v };
  }, [agentId]);

  useEffect(() => {
    load().then(({ v }) => {
      const draft = readDraft(agentId);
      const saved = sourceOf(v);
      if (draft && draft.text !== saved) {
        setText(draft.text);
        setRestored(true);
        setAnalysis((a) => a ?? analysed(draft.text) ?? null);
      } else {
        setText(saved);
        setAnalysis((a) => {
          if (a) return a;
          const known = analysed(saved);
          afterPaint.current = !known;
          return known ?? savedAnalysis(v);
        });
      }
    }, setError);
  }, [agentId, load]);

  const onChange = useCallback(
    (t: string) => {
      setText(t);
      if (base) localStorage.setItem(draftKey(agentId), JSON.stringify({ base: base.version, text: t }));
    },
    [agentId, base],
  );

  // The YAML is parsed and laid out in the graph worker, a moment after typing stops; the
  // newest answer wins.
  const debounced = useDebounced(text ?? "", (text?.length ?? 0) > 20000 ? 150 : 80);
  useEffect(() => {
    if (text === null || (debounced === "" && text !== "")) return; // not loaded, or not yet debounced
    let live = true;
    const run = () => void analyseSource(debounced).then((a) => live && setAnalysis(a), setError);
    let frame = 0;
    let timer = 0;
    if (afterPaint.current) {
      afterPaint.current = false;
      frame = requestAnimationFrame(() => (timer = window.setTimeout(run)));
    } else run();
    return () => {
      live = false;
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [debounced]); // eslint-disable-line react-hooks/exhaustive-deps
  const graph: AgentGraph = analysis?.graph ?? EMPTY_GRAPH;
  const dirty = base !== null && text !== null && text !== sourceOf(base);

  const problems: LineProblem[] = useMemo(() => {
    const out: LineProblem[] = graph.problems.map((p) => ({ line: p.line, message: p.message }));
    for (const e of serverErrors) {
      const node = nodeOfError(graph, e);
      out.push({ line: node?.line ?? 1, message: `${e.field ? `${e.field}: ` : ""}${e.message}` });
    }
    return out;
  }, [graph, serverErrors]);

  const marks = useMemo(() => {
    const m: Record<string, string> = {};
    for (const e of serverErrors) {
      const node = nodeOfError(graph, e);
      if (node) m[node.id] = "error";
    }
    const at = nodeAtLine(graph, line);
    if (at) m[at.id] = `${m[at.id] ?? ""} selected`;
    return m;
  }, [graph, serverErrors, line]);

  const saveText = useCallback(
    async (source: string, what: string) => {
      if (!base) return;
      setNotice(null);
      setError(null);
      try {
        const fresh = await api<Agent>(`/agents/${agentId}`);
        if (fresh.current_version !== base.version) {
          setConflict(fresh.current_version);
          return;
        }
        // base_version: the server refuses the save (409) when a newer version landed meanwhile.
        const v = await api<AgentVersion>(`/agents/${agentId}/versions`, {
          method: "POST",
          body: { source, base_version: base.version },
        });
        if (source !== latestText.current) {
          editor.current?.setText(source); // a restored version replaces the editor's text
          setText(source);
        }
        localStorage.removeItem(draftKey(agentId));
        setServerErrors([]);
        setConflict(null);
        setRestored(false);
        setBase(v);
        setAgent({ ...fresh, current_version: v.version });
        setNotice(`${what} as version ${v.version}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 409 && e.field === "base_version") {
          const latest = await api<Agent>(`/agents/${agentId}`);
          setConflict(latest.current_version);
        } else if (e instanceof ApiError && e.status === 422 && e.errors.length) setServerErrors(e.errors);
        else if (e instanceof ApiError && e.status === 422) setServerErrors([{ field: e.field, message: e.detail }]);
        else setError(e);
      }
    },
    [agentId, base],
  );

  const graphRef = useRef(graph);
  graphRef.current = graph;
  const jumpToNode = useCallback((id: string) => {
    const n = graphRef.current.nodes.find((x) => x.id === id);
    if (n) editor.current?.jumpTo(n.line);
  }, []);

  const save = useCallback(() => {
    if (text !== null) void saveText(text, "Saved");
  }, [text, saveText]);

  const reloadLatest = async () => {
    const { v } = await load();
    const saved = sourceOf(v);
    setConflict(null);
    setText(saved);
    editor.current?.setText(saved);
    localStorage.removeItem(draftKey(agentId));
  };

  const discardDraft = () => {
    if (!base) return;
    localStorage.removeItem(draftKey(agentId));
    editor.current?.setText(sourceOf(base));
    setRestored(false);
  };

  const exportYaml = async () => {
    const yamlText = await api<string>(`/agents/${agentId}/export`, { text: true });
    const blob = new Blob([yamlText], { type: "application/yaml" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${agent?.name ?? "agent"}.yaml`;
    a.click();
    URL.revokeObjectURL(a.href);
  };

  if (error && !agent) return <Problem error={error} />;
  if (!agent || !base || text === null) return <p className="muted">Loading…</p>;

  return (
    <section className="editor-page">
      <div className="row">
        <h1>
          <Link to="/agents">Agents</Link> / {agent.name}
        </h1>
        <span className="badge">v{base.version}{dirty ? " · unsaved" : ""}</span>
        <span className="grow" />
        <div role="tablist" className="tabs">
          <button role="tab" aria-selected={tab === "edit"} onClick={() => setTab("edit")}>Edit</button>
          <button role="tab" aria-selected={tab === "history"} onClick={() => setTab("history")}>History</button>
          <button role="tab" aria-selected={tab === "run"} onClick={() => setTab("run")}>Run</button>
        </div>
        <button onClick={save} disabled={!dirty} title="Save a new version (Ctrl+S)">Save version</button>
        <button className="secondary" onClick={() => void exportYaml()}>Export YAML</button>
      </div>
      {restored && (
        <p className="note" role="status">
          Your unsaved draft was restored. <button className="link" onClick={discardDraft}>Discard draft</button>
        </p>
      )}
      {conflict !== null && (
        <div className="error" role="alert">
          Not saved: version {conflict} was saved by someone else after you opened version {base.version}. Your
          draft is kept in this browser.{" "}
          <button className="link" onClick={() => void reloadLatest()}>Load version {conflict} (drops your draft)</button>
        </div>
      )}
      {notice && <p className="ok" role="status">{notice}</p>}
      {error ? <Problem error={error} /> : null}
      {serverErrors.length > 0 && (
        <ul className="errors" aria-label="Validation errors">
          {serverErrors.map((e, i) => (
            <li key={i}>
              <button className="link" onClick={() => { const n = nodeOfError(graph, e); if (n) editor.current?.jumpTo(n.line); }}>
                {e.node ? `${e.node}: ` : ""}{e.field ? `${e.field}: ` : ""}{e.message}
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className={tab === "edit" ? "split" : "hidden"}>
        <YamlEditor ref={editor} initial={text} problems={problems} onChange={onChange} onSave={save} onLine={setLine} />
        <GraphView graph={analysis?.graph ?? null} positions={analysis?.positions} marks={marks} onNodeClick={jumpToNode} />
      </div>
      {tab === "history" && <History agentId={agentId} current={base.version} onRestore={(v) => void saveText(sourceOf(v), `Restored version ${v.version}`)} />}
      {tab === "run" && <RunForm agent={agent} inputsSchema={base.definition.inputs} />}
    </section>
  );
}

function History({ agentId, current, onRestore }: { agentId: string; current: number; onRestore: (v: AgentVersion) => void }) {
  const [versions, setVersions] = useState<AgentVersion[] | null>(null);
  const [left, setLeft] = useState<number | null>(null);
  const [right, setRight] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<{ items: AgentVersion[] }>(`/agents/${agentId}/versions`, { query: { limit: 200 } }).then((p) => {
      setVersions(p.items);
      setRight(p.items[0]?.version ?? null);
      setLeft(p.items[1]?.version ?? p.items[0]?.version ?? null);
    }, setError);
  }, [agentId, current]);
  const a = versions?.find((v) => v.version === left) ?? null;
  const b = versions?.find((v) => v.version === right) ?? null;
  const ga = useMemo(() => (a ? parseAgentYaml(sourceOf(a)) : null), [a]);
  const gb = useMemo(() => (b ? parseAgentYaml(sourceOf(b)) : null), [b]);
  const diff = useMemo(() => (ga && gb ? diffGraphs(ga, gb) : null), [ga, gb]);
  const union = useMemo(() => (ga && gb ? unionGraph(ga, gb) : null), [ga, gb]);
  const marks = useMemo(() => {
    const m: Record<string, string> = {};
    if (diff) for (const [id, c] of Object.entries(diff.nodes)) if (c !== "same") m[id] = c;
    return m;
  }, [diff]);
  if (error) return <p className="error">{errorText(error)}</p>;
  if (!versions) return <p className="muted">Loading…</p>;
  return (
    <div className="history">
      <div className="row">
        <label className="inline">Compare
          <select aria-label="Older version" value={left ?? ""} onChange={(e) => setLeft(Number(e.target.value))}>
            {versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
          </select>
        </label>
        <label className="inline">with
          <select aria-label="Newer version" value={right ?? ""} onChange={(e) => setRight(Number(e.target.value))}>
            {versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
          </select>
        </label>
        <span className="grow" />
        {a && a.version !== current && (
          <button onClick={() => onRestore(a)}>Restore v{a.version} as a new version</button>
        )}
      </div>
      <table>
        <thead><tr><th>Version</th><th>Saved</th><th /></tr></thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version}>
              <td>v{v.version}{v.version === current ? " (current)" : ""}</td>
              <td>{when(v.created_at)}</td>
              <td>
                {v.version !== current && <button className="link" onClick={() => onRestore(v)}>Restore v{v.version}</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {diff && (
        <p aria-label="Graph changes" className="diffsum">
          <span className="added">added: {diff.added.join(", ") || "none"}</span> ·{" "}
          <span className="removed">removed: {diff.removed.join(", ") || "none"}</span> ·{" "}
          <span className="changed">changed: {diff.changed.join(", ") || "none"}</span>
        </p>
      )}
      {a && b && (
        <div className="split">
          <Suspense fallback={<div className="diff muted pad">Loading the diff…</div>}>
            <DiffView before={sourceOf(a)} after={sourceOf(b)} />
          </Suspense>
          {union && <GraphView graph={union} marks={marks} label="Graph diff" />}
        </div>
      )}
    </div>
  );
}

