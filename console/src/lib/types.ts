// The API shapes the console reads (see /api/v1/openapi.json).
export interface OrgRef { id: string; name: string; role: "owner" | "admin" | "member" }
export interface Me {
  user: { id: string; email: string; name: string };
  orgs: OrgRef[];
  current_org: OrgRef;
  auth: string;
}
export interface Space { id: string; name: string; is_personal: boolean; role: string }
export interface Agent {
  id: string; space_id: string; name: string; description: string | null;
  current_version: number; created_at: string; updated_at: string;
}
export interface AgentVersion {
  id: string; agent_id: string; version: number; definition: Record<string, unknown>;
  source: string | null; created_at: string; created_by: string | null;
}
export type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled" | "interrupted";
export interface Run {
  id: string; agent_id: string; agent_version: number; space_id: string;
  thread_id: string | null; parent_run_id: string | null; status: RunStatus;
  inputs: Record<string, unknown> | null; output: unknown; error: Record<string, unknown> | null;
  interrupt: { node?: string; message?: string; schema?: unknown; [k: string]: unknown } | null;
  command: Record<string, unknown> | null; created_at: string; started_at: string | null;
  ended_at: string | null; tokens_in: number; tokens_out: number; cost_usd: number;
  cancel_requested: boolean;
}
export interface Step {
  id: string; node_id: string; index: number | null; attempt: number; status: string;
  input: unknown; output: unknown; error: Record<string, unknown> | null;
  started_at: string | null; ended_at: string | null; duration_ms: number | null;
  tokens_in: number; tokens_out: number; cost_usd: number;
}
export interface KnowledgeBase { id: string; space_id: string; name: string; description: string | null; embedding_model: string }
export interface Document {
  id: string; title: string; filename: string; status: string; percent: number;
  error: string | null; size_bytes: number; chunks_total: number; created_at: string;
}
export interface SearchItem {
  text: string; score: number; document_id: string; document_title: string; page: number | null;
  heading: string | null; start: number; end: number; source_url: string | null;
}
export interface Source {
  id: string; start_url: string; schedule: string; last_crawl_at: string | null;
  last_crawl: { status: string; pages_fetched: number; pages_changed: number; pages_failed: number } | null;
}
export interface Provider { id: string; name: string; kind: string; base_url: string | null; models: string[]; enabled: boolean; has_api_key: boolean; api_key_hint: string | null }
export interface Alias { name: string; models: string[]; strategy: string }
export interface ApiKey { id: string; name: string; prefix: string; scopes: string[]; created_at: string; last_used_at: string | null; revoked_at: string | null; expires_at: string | null }
export interface Member { user_id: string; email: string; name: string; role: string; joined_at: string }
export interface AuditEntry { id: string; actor_type: string; actor_id: string | null; action: string; target_type: string; target_id: string | null; ip: string | null; created_at: string; changes: Record<string, unknown> | null }
export interface UsageGroup { key: string | null; calls: number; input_tokens: number; output_tokens: number; cost_usd: number; avg_latency_ms: number }
export interface Budget { monthly_usd: number | null; warn_at: number | null; spent_usd: number; remaining_usd: number | null; period: string }
export interface Credential { id: string; name: string; kind: string; space_id: string | null; status: string; hint: string | null; created_at: string }
