// The run form generated from an agent's `inputs` JSON Schema: one field per property.
export interface FormField {
  name: string;
  label: string;
  kind: "string" | "text" | "number" | "integer" | "boolean" | "enum" | "json";
  required: boolean;
  options: string[];
  description: string | null;
  default: unknown;
}

type Schema = Record<string, unknown>;

export function formFields(schema: unknown): FormField[] {
  if (!schema || typeof schema !== "object") return [];
  const s = schema as Schema;
  const props = (s.properties ?? {}) as Record<string, Schema>;
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  return Object.entries(props).map(([name, p]) => {
    let kind: FormField["kind"] = "json";
    if (Array.isArray(p.enum)) kind = "enum";
    else if (p.type === "string") kind = p.format === "textarea" || (p.maxLength as number) > 200 ? "text" : "string";
    else if (p.type === "number" || p.type === "integer" || p.type === "boolean") kind = p.type;
    return {
      name,
      label: typeof p.title === "string" ? p.title : name,
      kind,
      required: required.has(name),
      options: Array.isArray(p.enum) ? (p.enum as unknown[]).map(String) : [],
      description: typeof p.description === "string" ? p.description : null,
      default: p.default,
    };
  });
}

/** Form values (strings from inputs) -> the run's inputs; throws Error naming a bad field. */
export function formValues(fields: FormField[], raw: Record<string, string | boolean>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = raw[f.name];
    if (f.kind === "boolean") {
      out[f.name] = Boolean(v);
      continue;
    }
    const s = typeof v === "string" ? v : "";
    if (s === "") {
      if (f.required) throw new Error(`${f.label} is required`);
      continue;
    }
    if (f.kind === "number" || f.kind === "integer") {
      const n = Number(s);
      if (!Number.isFinite(n) || (f.kind === "integer" && !Number.isInteger(n)))
        throw new Error(`${f.label} must be ${f.kind === "integer" ? "an integer" : "a number"}`);
      out[f.name] = n;
    } else if (f.kind === "json") {
      try {
        out[f.name] = JSON.parse(s);
      } catch {
        throw new Error(`${f.label} must be JSON`);
      }
    } else out[f.name] = s;
  }
  return out;
}
