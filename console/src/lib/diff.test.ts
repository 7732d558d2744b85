import { describe, expect, it } from "vitest";
import { diffGraphs, sameValue, unionGraph } from "./diff";
import { parseAgentYaml } from "./graph";

const V1 = `name: x
nodes:
  - id: a
    type: transform
    value: 1
  - id: b
    type: transform
    needs: [a]
    value: 2
  - id: gone
    type: transform
    value: 3
`;
const V2 = `name: x
nodes:
  - value: 1
    type: transform
    id: a
  - id: b
    type: transform
    needs: [a]
    value: 20
  - id: fresh
    type: human
    needs: [b]
    message: ok?
`;

describe("diffGraphs", () => {
  it("finds nodes added, removed and changed (key order does not count)", () => {
    const d = diffGraphs(parseAgentYaml(V1), parseAgentYaml(V2));
    expect(d.added).toEqual(["fresh"]);
    expect(d.removed).toEqual(["gone"]);
    expect(d.changed).toEqual(["b"]);
    expect(d.nodes.a).toBe("same");
    expect(d.edgesAdded).toEqual(["b->fresh"]);
    expect(d.edgesRemoved).toEqual([]);
  });

  it("is empty between equal versions", () => {
    const d = diffGraphs(parseAgentYaml(V1), parseAgentYaml(V1));
    expect([d.added, d.removed, d.changed]).toEqual([[], [], []]);
  });

  it("keeps removed nodes in the union graph drawn for the diff", () => {
    const u = unionGraph(parseAgentYaml(V1), parseAgentYaml(V2));
    expect(u.nodes.map((n) => n.id).sort()).toEqual(["a", "b", "fresh", "gone"]);
  });
});

describe("sameValue", () => {
  it("compares JSON structurally", () => {
    expect(sameValue({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(sameValue({ a: 1 }, { a: 1, b: undefined })).toBe(true);
    expect(sameValue([1, 2], [2, 1])).toBe(false);
    expect(sameValue({ a: null }, { a: 0 })).toBe(false);
  });
});
