// Loading an agent for the editor: the agent, its current version and the text to edit
// (the browser's draft when there is one). On a deep link to an editor the app starts this
// at once, alongside /me (and a draft's analysis in the graph worker), so the editor finds
// them ready instead of waiting for the app shell first.
import { api } from "./api";
import { analyseSource } from "./graphWorker";
import type { Agent, AgentVersion } from "./types";

export interface Draft {
  base: number;
  text: string;
}

export interface LoadedAgent {
  agent: Agent;
  version: AgentVersion;
}

export const draftKey = (id: string) => `agentdeck.draft.${id}`;

export function readDraft(id: string): Draft | null {
  try {
    return JSON.parse(localStorage.getItem(draftKey(id)) ?? "null") as Draft | null;
  } catch {
    return null;
  }
}

/** The agent and its current version, in one round trip (the newest version is the current one). */
export async function fetchAgent(agentId: string): Promise<LoadedAgent> {
  const [agent, page] = await Promise.all([
    api<Agent>(`/agents/${agentId}`),
    api<{ items: AgentVersion[] }>(`/agents/${agentId}/versions`, { query: { limit: 1 } }),
  ]);
  const version =
    page.items[0]?.version === agent.current_version
      ? page.items[0]
      : await api<AgentVersion>(`/agents/${agentId}/versions/${agent.current_version}`);
  return { agent, version };
}

const early = new Map<string, { at: number; loaded: Promise<LoadedAgent> }>();
/** A prefetch older than this is not used (the editor was not opened at once after all). */
const FRESH_MS = 10_000;

/** Fetch the agent now; a draft (which only the YAML can draw) is analysed at once too. A
 * saved version's graph is drawn from its definition, so its analysis waits for the editor. */
export function prefetchAgent(agentId: string): void {
  const p = fetchAgent(agentId);
  early.set(agentId, { at: Date.now(), loaded: p });
  p.then(({ version }) => {
    const draft = readDraft(agentId);
    if (draft && draft.text !== version.source) void analyseSource(draft.text).catch(() => undefined);
  }, () => undefined);
}

/** The prefetched agent (once), else a fresh fetch. */
export function loadAgent(agentId: string): Promise<LoadedAgent> {
  const p = early.get(agentId);
  early.delete(agentId);
  return p && Date.now() - p.at < FRESH_MS ? p.loaded : fetchAgent(agentId);
}
