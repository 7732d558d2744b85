// The public API (/api/v1) with the signed-in user's tokens: access token on every call,
// one refresh at a time when it expires, problem+json turned into ApiError.

export const BASE = "/api/v1";
const KEY = "agentdeck.session";

export interface FieldError {
  field?: string | null;
  node?: string | null;
  message: string;
  location?: string;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public title: string,
    public detail: string,
    public field: string | null,
    public errors: FieldError[],
  ) {
    super(detail || title);
  }
}

export interface Session {
  access_token: string;
  refresh_token: string;
}

let session: Session | null = (() => {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "null") as Session | null;
  } catch {
    return null;
  }
})();
const listeners = new Set<() => void>();

export function currentSession(): Session | null {
  return session;
}

export function setSession(next: Session | null): void {
  session = next;
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  listeners.forEach((l) => l());
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function authHeaders(): Record<string, string> {
  return session ? { Authorization: `Bearer ${session.access_token}` } : {};
}

async function problem(res: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return new ApiError(
    res.status,
    String(body.title ?? res.statusText),
    String(body.detail ?? body.title ?? `HTTP ${res.status}`),
    (body.field as string | undefined) ?? null,
    Array.isArray(body.errors) ? (body.errors as FieldError[]) : [],
  );
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  const current = session;
  if (!current) return false;
  refreshing ??= (async () => {
    try {
      const res = await fetch(`${BASE}/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
      });
      if (!res.ok) {
        setSession(null);
        return false;
      }
      const t = (await res.json()) as Session;
      setSession({ access_token: t.access_token, refresh_token: t.refresh_token });
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  raw?: BodyInit;
  contentType?: string;
  query?: Record<string, string | number | boolean | null | undefined>;
  text?: boolean;
}

export function url(path: string, query?: RequestOptions["query"]): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const qs = q.toString();
  return `${BASE}${path}${qs ? `?${qs}` : ""}`;
}

/** Call the API; raises ApiError with the problem's details. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const send = () => {
    const headers: Record<string, string> = { ...authHeaders() };
    let body: BodyInit | undefined = opts.raw;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    } else if (opts.contentType) headers["Content-Type"] = opts.contentType;
    return fetch(url(path, opts.query), { method: opts.method ?? "GET", headers, body });
  };
  let res = await send();
  if (res.status === 401 && session && (await refresh())) res = await send();
  if (!res.ok) throw await problem(res);
  if (res.status === 204) return undefined as T;
  return (opts.text ? await res.text() : await res.json()) as T;
}

/** Access token still valid for streams: refresh first when the API says it expired. */
export async function ensureFresh(): Promise<void> {
  try {
    await api("/me");
  } catch {
    /* api() already refreshed or signed out */
  }
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Every page of a cursor-paged list (up to `max` items). */
export async function all<T>(path: string, query: RequestOptions["query"] = {}, max = 1000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await api<Page<T>>(path, { query: { ...query, limit: 100, cursor } });
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

/** Upload with progress (fetch has no upload progress; XMLHttpRequest does). */
export function upload<T>(path: string, form: FormData, onProgress: (pct: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    const h = authHeaders();
    if (h.Authorization) xhr.setRequestHeader("Authorization", h.Authorization);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((100 * e.loaded) / e.total));
    xhr.onload = () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(xhr.responseText) as Record<string, unknown>;
      } catch {
        /* empty */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T);
      else reject(new ApiError(xhr.status, String(body.title ?? "Upload failed"), String(body.detail ?? xhr.statusText), null, []));
    };
    xhr.onerror = () => reject(new ApiError(0, "Upload failed", "network error", null, []));
    xhr.send(form);
  });
}
