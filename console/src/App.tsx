import { createContext, lazy, Suspense, useCallback, useContext, useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { api, currentSession, onSessionChange, setSession } from "./lib/api";
import { prefetchAgent } from "./lib/agentLoad";
import type { Me, Space } from "./lib/types";
import { Link, match, navigate, usePath } from "./router";
import { SignIn } from "./pages/SignIn";
import { CommandPalette } from "./components/CommandPalette";

const loadEditor = () => import("./pages/AgentEditor");
let editorModule: Awaited<ReturnType<typeof loadEditor>> | null = null;
const loadEditorOnce = () => loadEditor().then((m) => (editorModule = m));
// A deep link to the editor fetches its (largest) chunk, the agent and its graph's analysis
// while /me is still answering.
const deepAgent = /^\/agents\/([^/]+)$/.exec(location.pathname)?.[1];
if (deepAgent) {
  void loadEditorOnce();
  if (currentSession()) prefetchAgent(deepAgent);
}
const Agents = lazy(() => import("./pages/Agents"));
const LazyEditor = lazy(loadEditorOnce);
/** The editor without suspending when its chunk is already there (a deep link fetched it
 * early): a suspended first render would show "Loading…" and retry a frame or more later. */
function AgentEditor(props: { agentId: string }) {
  const Editor = editorModule?.default ?? LazyEditor;
  return <Editor {...props} />;
}
const RunView = lazy(() => import("./pages/RunView"));
const Runs = lazy(() => import("./pages/Runs"));
const Approvals = lazy(() => import("./pages/Approvals"));
const Knowledge = lazy(() => import("./pages/Knowledge"));
const Tools = lazy(() => import("./pages/Tools"));
const Settings = lazy(() => import("./pages/Settings"));

export interface AppState {
  me: Me;
  spaces: Space[];
  space: Space | null;
  setSpace: (id: string) => void;
  reload: () => Promise<void>;
  /** Read the spaces again (one was created, or your membership changed). */
  reloadSpaces: () => Promise<void>;
}

const Ctx = createContext<AppState | null>(null);

export function useApp(): AppState {
  const v = useContext(Ctx);
  if (!v) throw new Error("useApp outside the app");
  return v;
}

export const NAV: { label: string; to: string }[] = [
  { label: "Agents", to: "/agents" },
  { label: "Runs", to: "/runs" },
  { label: "Approvals", to: "/approvals" },
  { label: "Knowledge", to: "/knowledge" },
  { label: "Tools", to: "/tools" },
  { label: "Settings", to: "/settings" },
];

function Routes({ path }: { path: string }) {
  let m: Record<string, string> | null;
  if ((m = match("/agents/:id", path))) return <AgentEditor key={m.id} agentId={m.id} />;
  if ((m = match("/runs/:id", path))) return <RunView key={m.id} runId={m.id} />;
  if (path.startsWith("/runs")) return <Runs />;
  if (path.startsWith("/approvals")) return <Approvals />;
  if (path.startsWith("/knowledge")) return <Knowledge />;
  if (path.startsWith("/tools")) return <Tools />;
  if (path.startsWith("/settings")) return <Settings />;
  return <Agents />;
}

function Shell({ me, reload }: { me: Me; reload: () => Promise<void> }) {
  const path = usePath();
  const [spaces, setSpaces] = useState<Space[]>([]);
  const [spaceId, setSpaceId] = useState<string | null>(() => localStorage.getItem(`agentdeck.space.${me.current_org.id}`));
  const [palette, setPalette] = useState(false);

  const reloadSpaces = useCallback(
    () => api<{ items: Space[] }>("/spaces", { query: { limit: 200 } }).then((p) => setSpaces(p.items), () => setSpaces([])),
    [],
  );
  useEffect(() => {
    void reloadSpaces();
  }, [me.current_org.id, reloadSpaces]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setPalette((p) => !p);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const space = spaces.find((s) => s.id === spaceId) ?? spaces.find((s) => s.is_personal) ?? spaces[0] ?? null;
  const setSpace = useCallback(
    (id: string) => {
      localStorage.setItem(`agentdeck.space.${me.current_org.id}`, id);
      setSpaceId(id);
    },
    [me.current_org.id],
  );
  const state = useMemo(
    () => ({ me, spaces, space, setSpace, reload, reloadSpaces }),
    [me, spaces, space, setSpace, reload, reloadSpaces],
  );

  const switchOrg = async (orgId: string) => {
    const t = await api<{ access_token: string; refresh_token: string }>("/auth/switch-org", { method: "POST", body: { org_id: orgId } });
    setSession({ access_token: t.access_token, refresh_token: t.refresh_token });
    navigate("/agents");
    await reload();
  };
  const signOut = async () => {
    const s = currentSession();
    if (s) await api("/auth/logout", { method: "POST", body: { refresh_token: s.refresh_token } }).catch(() => undefined);
    setSession(null);
    navigate("/");
  };

  return (
    <Ctx.Provider value={state}>
      <header className="top">
        <Link to="/agents" className="brand">agentdeck</Link>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} className={path.startsWith(n.to) ? "active" : ""}>
              {n.label}
            </Link>
          ))}
        </nav>
        <span className="grow" />
        <button className="ghost" onClick={() => setPalette(true)} title="Command palette (Ctrl+K)">
          Ctrl+K
        </button>
        <label className="inline">
          <span className="sr">Organisation</span>
          <select aria-label="Organisation" value={me.current_org.id} onChange={(e) => void switchOrg(e.target.value)}>
            {me.orgs.map((o) => (
              <option key={o.id} value={o.id}>{o.name}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          <span className="sr">Space</span>
          <select aria-label="Space" value={space?.id ?? ""} onChange={(e) => setSpace(e.target.value)}>
            {spaces.map((s) => (
              <option key={s.id} value={s.id}>{s.name}</option>
            ))}
          </select>
        </label>
        <button className="ghost" onClick={() => void signOut()} title={me.user.email}>Sign out</button>
      </header>
      <main>
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <Routes key={me.current_org.id} path={path} />
        </Suspense>
      </main>
      {palette && <CommandPalette onClose={() => setPalette(false)} />}
    </Ctx.Provider>
  );
}

export function App() {
  const signedIn = useSyncExternalStore(onSessionChange, () => currentSession() !== null);
  const [me, setMe] = useState<Me | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const reload = useCallback(async () => {
    try {
      setMe(await api<Me>("/me"));
    } catch (e) {
      setFailed(String((e as Error).message));
      setMe(null);
    }
  }, []);
  useEffect(() => {
    setMe(null);
    setFailed(null);
    if (signedIn) void reload();
  }, [signedIn, reload]);
  if (!signedIn) return <SignIn />;
  if (!me) return <p className="muted pad">{failed ?? "Loading…"}</p>;
  return <Shell me={me} reload={reload} />;
}
