// A side-by-side YAML diff of two versions (@codemirror/merge), read-only.
import { useEffect, useRef } from "react";
import { MergeView } from "@codemirror/merge";
import { yaml } from "@codemirror/lang-yaml";
import { EditorState } from "@codemirror/state";
import { EditorView, lineNumbers } from "@codemirror/view";
import { defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";

export function DiffView({ before, after }: { before: string; after: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const ext = [lineNumbers(), yaml(), syntaxHighlighting(defaultHighlightStyle), EditorView.editable.of(false), EditorState.readOnly.of(true)];
    const view = new MergeView({ a: { doc: before, extensions: ext }, b: { doc: after, extensions: ext }, parent: host.current!, collapseUnchanged: { margin: 3, minSize: 6 } });
    return () => view.destroy();
  }, [before, after]);
  return <div className="diff" ref={host} aria-label="YAML diff" />;
}
