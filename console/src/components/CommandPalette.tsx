import { useEffect, useMemo, useState } from "react";
import { api } from "../lib/api";
import type { Agent } from "../lib/types";
import { navigate } from "../router";

const PAGES = [
  ["Agents", "/agents"], ["Runs", "/runs"], ["Approvals", "/approvals"], ["Knowledge", "/knowledge"],
  ["Tools", "/tools"], ["Settings: providers and models", "/settings?tab=providers"],
  ["Settings: usage and budget", "/settings?tab=usage"], ["Settings: API keys", "/settings?tab=keys"],
  ["Settings: members", "/settings?tab=members"], ["Settings: audit log", "/settings?tab=audit"],
] as const;

/** Ctrl+K: every page and every agent, filtered as you type; arrows and Enter. */
export function CommandPalette({ onClose }: { onClose: () => void }) {
  const [q, setQ] = useState("");
  const [agents, setAgents] = useState<Agent[]>([]);
  const [sel, setSel] = useState(0);
  useEffect(() => {
    api<{ items: Agent[] }>("/agents", { query: { limit: 200 } }).then((p) => setAgents(p.items), () => undefined);
  }, []);
  const items = useMemo(() => {
    const all = [
      ...PAGES.map(([label, to]) => ({ label, to, hint: "page" })),
      ...agents.map((a) => ({ label: a.name, to: `/agents/${a.id}`, hint: "agent" })),
    ];
    const needle = q.trim().toLowerCase();
    return needle ? all.filter((i) => i.label.toLowerCase().includes(needle)) : all;
  }, [q, agents]);
  const go = (to: string) => {
    onClose();
    navigate(to);
  };
  return (
    <div className="overlay" onMouseDown={onClose}>
      <div className="palette" role="dialog" aria-label="Command palette" onMouseDown={(e) => e.stopPropagation()}>
        <input
          autoFocus
          placeholder="Go to a page or an agent…"
          aria-label="Command"
          value={q}
          onChange={(e) => {
            setQ(e.target.value);
            setSel(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Escape") onClose();
            else if (e.key === "ArrowDown") setSel((s) => Math.min(items.length - 1, s + 1));
            else if (e.key === "ArrowUp") setSel((s) => Math.max(0, s - 1));
            else if (e.key === "Enter" && items[sel]) go(items[sel].to);
            else return;
            e.preventDefault();
          }}
        />
        <ul role="listbox">
          {items.slice(0, 50).map((i, n) => (
            <li key={i.to} role="option" aria-selected={n === sel} className={n === sel ? "sel" : ""} onMouseDown={() => go(i.to)}>
              {i.label} <span className="muted">{i.hint}</span>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
