import { ApiError } from "../lib/api";

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    const extra = e.errors.map((x) => `${x.field ? `${x.field}: ` : ""}${x.message}`).join("; ");
    return extra && !e.detail.includes(extra) ? `${e.detail} (${extra})` : e.detail;
  }
  return e instanceof Error ? e.message : String(e);
}

export function Problem({ error }: { error: unknown }) {
  if (!error) return null;
  return <p role="alert" className="error">{errorText(error)}</p>;
}
