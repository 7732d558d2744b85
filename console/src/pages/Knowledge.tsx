// Knowledge bases: documents (upload with progress), website sources and their crawls, and a
// search playground showing each hit's vector, full-text and fused scores and its citation.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useApp } from "../App";
import { api, upload } from "../lib/api";
import type { Document, KnowledgeBase, SearchItem, Source } from "../lib/types";
import { Problem } from "../components/Problem";
import { when } from "../lib/format";

export default function Knowledge() {
  const { space } = useApp();
  const [kbs, setKbs] = useState<KnowledgeBase[] | null>(null);
  const [sel, setSel] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    const p = await api<{ items: KnowledgeBase[] }>("/knowledge-bases", { query: { limit: 200 } });
    setKbs(p.items);
    setSel((s) => s ?? p.items[0]?.id ?? null);
  }, []);
  useEffect(() => {
    load().catch(setError);
  }, [load]);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    if (!space) return;
    try {
      const kb = await api<KnowledgeBase>("/knowledge-bases", { method: "POST", body: { name, space_id: space.id } });
      setName("");
      await load();
      setSel(kb.id);
    } catch (err) {
      setError(err);
    }
  };
  const kb = kbs?.find((k) => k.id === sel) ?? null;
  return (
    <section>
      <h1>Knowledge</h1>
      <Problem error={error} />
      <div className="cols">
        <aside>
          <ul className="list" aria-label="Knowledge bases">
            {(kbs ?? []).map((k) => (
              <li key={k.id}>
                <button className={k.id === sel ? "link sel" : "link"} onClick={() => setSel(k.id)}>{k.name}</button>
              </li>
            ))}
          </ul>
          <form onSubmit={(e) => void create(e)} className="stack">
            <label>New knowledge base<input value={name} onChange={(e) => setName(e.target.value)} required /></label>
            <button type="submit">Create knowledge base</button>
          </form>
        </aside>
        {kb ? <KbDetail key={kb.id} kb={kb} /> : <p className="muted">Create a knowledge base to add documents.</p>}
      </div>
    </section>
  );
}

function KbDetail({ kb }: { kb: KnowledgeBase }) {
  const [docs, setDocs] = useState<Document[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const loadDocs = useCallback(async () => {
    const p = await api<{ items: Document[] }>(`/knowledge-bases/${kb.id}/documents`, { query: { limit: 200 } });
    setDocs(p.items);
    return p.items;
  }, [kb.id]);
  useEffect(() => {
    let stop = false;
    const tick = async () => {
      if (stop) return;
      const items = await loadDocs().catch((e) => (setError(e), []));
      const busy = items.some((d) => d.status === "queued" || d.status === "processing");
      if (!stop) window.setTimeout(() => void tick(), busy ? 500 : 5000);
    };
    void tick();
    return () => {
      stop = true;
    };
  }, [loadDocs]);
  const onFile = async (file: File) => {
    const form = new FormData();
    form.append("file", file);
    setProgress(0);
    try {
      await upload(`/knowledge-bases/${kb.id}/documents`, form, setProgress);
      await loadDocs();
    } catch (e) {
      setError(e);
    } finally {
      setProgress(null);
    }
  };
  const addText = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api(`/knowledge-bases/${kb.id}/documents`, { method: "POST", body: { title, text } });
      setTitle("");
      setText("");
      await loadDocs();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="grow">
      <h2>{kb.name} <span className="muted">({kb.embedding_model})</span></h2>
      <Problem error={error} />
      <div className="row">
        <label className="inline">Upload a document
          <input type="file" aria-label="Upload a document" onChange={(e) => { const f = e.target.files?.[0]; if (f) void onFile(f); e.target.value = ""; }} />
        </label>
        {progress !== null && <progress max={100} value={progress} aria-label="Upload progress">{progress}%</progress>}
      </div>
      <details>
        <summary>Add text</summary>
        <form onSubmit={(e) => void addText(e)} className="stack">
          <label>Title<input value={title} onChange={(e) => setTitle(e.target.value)} required /></label>
          <label>Text<textarea rows={4} value={text} onChange={(e) => setText(e.target.value)} required /></label>
          <button type="submit">Add document</button>
        </form>
      </details>
      <table aria-label="Documents">
        <thead><tr><th>Document</th><th>Status</th><th>Chunks</th><th>Added</th></tr></thead>
        <tbody>
          {docs.map((d) => (
            <tr key={d.id}>
              <td>{d.title}</td>
              <td>
                <span className={`status s-${d.status}`}>{d.status}</span>
                {(d.status === "processing" || d.status === "queued") && <progress max={100} value={d.percent} />}
                {d.error && <span className="error"> {d.error}</span>}
              </td>
              <td>{d.chunks_total}</td>
              <td>{when(d.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Sources kbId={kb.id} />
      <Playground kbId={kb.id} />
    </div>
  );
}

function Sources({ kbId }: { kbId: string }) {
  const [sources, setSources] = useState<Source[]>([]);
  const [start, setStart] = useState("");
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    setSources((await api<{ items: Source[] }>(`/knowledge-bases/${kbId}/sources`, { query: { limit: 100 } })).items);
  }, [kbId]);
  useEffect(() => {
    load().catch(setError);
  }, [load]);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api(`/knowledge-bases/${kbId}/sources`, { method: "POST", body: { start_url: start } });
      setStart("");
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const crawl = async (id: string) => {
    try {
      await api(`/knowledge-bases/${kbId}/sources/${id}/crawl`, { method: "POST" });
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <details>
      <summary>Website sources ({sources.length})</summary>
      <Problem error={error} />
      <ul>
        {sources.map((s) => (
          <li key={s.id}>
            {s.start_url} · {s.schedule} · last crawl {when(s.last_crawl_at)}
            {s.last_crawl && ` (${s.last_crawl.status}: ${s.last_crawl.pages_fetched} fetched, ${s.last_crawl.pages_changed} changed, ${s.last_crawl.pages_failed} failed)`}{" "}
            <button className="link" onClick={() => void crawl(s.id)}>Crawl now</button>
          </li>
        ))}
      </ul>
      <form onSubmit={(e) => void add(e)} className="row">
        <input type="url" placeholder="https://docs.example.org/" aria-label="Start URL" value={start} onChange={(e) => setStart(e.target.value)} required />
        <button type="submit">Add source</button>
      </form>
    </details>
  );
}

interface Hit {
  item: SearchItem;
  vector: number | null;
  fulltext: number | null;
  fused: number | null;
}

function Playground({ kbId }: { kbId: string }) {
  const [q, setQ] = useState("");
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const search = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const modes = ["hybrid", "vector", "fulltext"] as const;
      const [h, v, f] = await Promise.all(
        modes.map((mode) => api<{ items: SearchItem[] }>(`/knowledge-bases/${kbId}/search`, { method: "POST", body: { query: q, mode, top_k: 10 } })),
      );
      const key = (i: SearchItem) => `${i.document_id}:${i.start}`;
      const byKey = new Map<string, Hit>();
      const put = (items: SearchItem[], field: "fused" | "vector" | "fulltext") => {
        for (const i of items) {
          const hit = byKey.get(key(i)) ?? { item: i, vector: null, fulltext: null, fused: null };
          hit[field] = i.score;
          byKey.set(key(i), hit);
        }
      };
      put(h.items, "fused");
      put(v.items, "vector");
      put(f.items, "fulltext");
      setHits([...byKey.values()].sort((a, b) => (b.fused ?? -1) - (a.fused ?? -1)));
    } catch (err) {
      setError(err);
    }
  };
  const fmt = (n: number | null) => (n === null ? "—" : n.toFixed(4));
  return (
    <div className="card">
      <h2>Search playground</h2>
      <form onSubmit={(e) => void search(e)} className="row">
        <input className="grow" aria-label="Search query" placeholder="Ask the knowledge base…" value={q} onChange={(e) => setQ(e.target.value)} required />
        <button type="submit">Search</button>
      </form>
      <Problem error={error} />
      {hits && hits.length === 0 && <p className="muted">No hits.</p>}
      {hits && hits.length > 0 && (
        <ol className="hits" aria-label="Search results">
          {hits.map((h) => (
            <li key={`${h.item.document_id}:${h.item.start}`}>
              <p className="scores">fused {fmt(h.fused)} · vector {fmt(h.vector)} · full-text {fmt(h.fulltext)}</p>
              <p>{h.item.text}</p>
              <p className="muted cite">
                {h.item.document_title}
                {h.item.heading ? ` › ${h.item.heading}` : ""}
                {h.item.page !== null ? `, page ${h.item.page}` : ""}, characters {h.item.start}–{h.item.end}
                {h.item.source_url ? ` · ${h.item.source_url}` : ""}
              </p>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
