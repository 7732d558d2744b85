import { describe, expect, it } from "vitest";
import { formFields, formValues } from "./schemaForm";

const SCHEMA = {
  type: "object",
  required: ["ticket"],
  properties: {
    ticket: { type: "string", title: "Ticket" },
    priority: { enum: ["low", "high"] },
    count: { type: "integer" },
    urgent: { type: "boolean" },
    extra: { type: "object" },
  },
};

describe("run form from the inputs schema", () => {
  it("makes one field per property", () => {
    expect(formFields(SCHEMA).map((f) => [f.name, f.kind, f.required])).toEqual([
      ["ticket", "string", true],
      ["priority", "enum", false],
      ["count", "integer", false],
      ["urgent", "boolean", false],
      ["extra", "json", false],
    ]);
  });

  it("turns the values into typed inputs and names a wrong field", () => {
    const fields = formFields(SCHEMA);
    expect(formValues(fields, { ticket: "t", count: "3", urgent: true, extra: '{"a":1}' })).toEqual({
      ticket: "t", count: 3, urgent: true, extra: { a: 1 },
    });
    expect(() => formValues(fields, { count: "3" })).toThrow("Ticket is required");
    expect(() => formValues(fields, { ticket: "t", count: "1.5" })).toThrow("count must be an integer");
  });
});
