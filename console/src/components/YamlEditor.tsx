// CodeMirror 6 for YAML: Ctrl+S saves, diagnostics on their lines, jump to a line on demand.
// A large document's editor is created just after the page's next paint: building it (the
// first parse, measuring its lines) takes some 70 ms at 500 nodes, and the graph beside it,
// rendered in the same commit, need not wait for that to be drawn.
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { bracketMatching, defaultHighlightStyle, foldGutter, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";

export interface LineProblem {
  line: number;
  message: string;
}

export interface YamlEditorHandle {
  jumpTo: (line: number) => void;
  setText: (text: string) => void;
}

interface Props {
  initial: string;
  problems: LineProblem[];
  onChange: (text: string) => void;
  onSave: () => void;
  onLine?: (line: number) => void;
  readOnly?: boolean;
}

/** Documents at least this long get their editor after the next paint. */
const LARGE = 20_000;

function diagnosticsOf(v: EditorView, problems: LineProblem[]): Diagnostic[] {
  const doc = v.state.doc;
  return problems
    .filter((p) => p.line >= 1 && p.line <= doc.lines)
    .map((p) => {
      const line = doc.line(p.line);
      return { from: line.from, to: line.to, severity: "error", message: p.message };
    });
}

export const YamlEditor = forwardRef<YamlEditorHandle, Props>(function YamlEditor(props, ref) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const latest = useRef(props);
  latest.current = props;
  /** Text given (setText) before the editor exists: it starts with that instead. */
  const pending = useRef<string | null>(null);

  useEffect(() => {
    let v: EditorView | null = null;
    const create = () => {
      v = makeView(host.current!, pending.current ?? props.initial);
      view.current = v;
      const problems = diagnosticsOf(v, latest.current.problems);
      if (problems.length) v.dispatch(setDiagnostics(v.state, problems));
    };
    let frame = 0;
    let timer = 0;
    if (props.initial.length >= LARGE) frame = requestAnimationFrame(() => (timer = window.setTimeout(create)));
    else create();
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
      v?.destroy();
      view.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  function makeView(parent: HTMLElement, doc: string): EditorView {
    const state = EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        foldGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        lintGutter(),
        yaml(),
        EditorState.readOnly.of(Boolean(props.readOnly)),
        keymap.of([
          { key: "Mod-s", preventDefault: true, run: () => (latest.current.onSave(), true) },
          indentWithTab,
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) latest.current.onChange(u.state.doc.toString());
          if (u.selectionSet || u.docChanged) {
            const line = u.state.doc.lineAt(u.state.selection.main.head).number;
            latest.current.onLine?.(line);
          }
        }),
        EditorView.contentAttributes.of({ "aria-label": "YAML definition" }),
      ],
    });
    return new EditorView({ state, parent });
  }

  useEffect(() => {
    const v = view.current;
    if (v) v.dispatch(setDiagnostics(v.state, diagnosticsOf(v, props.problems)));
  }, [props.problems]);

  useImperativeHandle(ref, () => ({
    jumpTo(lineNo: number) {
      const v = view.current;
      if (!v) return;
      const line = v.state.doc.line(Math.min(Math.max(1, lineNo), v.state.doc.lines));
      v.dispatch({
        selection: { anchor: line.from, head: line.to },
        effects: EditorView.scrollIntoView(line.from, { y: "center" }),
      });
      v.focus();
    },
    setText(text: string) {
      const v = view.current;
      if (v) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } });
      else pending.current = text;
    },
  }));

  return <div className="cm-host" ref={host} />;
});
