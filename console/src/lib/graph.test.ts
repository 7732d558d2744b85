import { describe, expect, it } from "vitest";
import { nodeAtLine, nodeOfError, parseAgentYaml } from "./graph";

const YAML = `name: triage
inputs:
  type: object
  properties:
    ticket: {type: string}
nodes:
  - id: normalise
    type: transform
    value: "{{ inputs.ticket }}"
  - id: answer
    type: llm
    needs: [normalise]
    when: "{{ inputs.ticket }}"
    prompt: "Answer {{ steps.normalise.output }}"
    on_error: fallback
  - id: fallback
    type: transform
    value: sorry
`;

describe("parseAgentYaml", () => {
  it("turns nodes into graph nodes with their YAML lines", () => {
    const g = parseAgentYaml(YAML);
    expect(g.problems).toEqual([]);
    expect(g.name).toBe("triage");
    expect(g.nodes.map((n) => [n.id, n.type, n.line])).toEqual([
      ["normalise", "transform", 7],
      ["answer", "llm", 10],
      ["fallback", "transform", 16],
    ]);
    expect(g.nodes[1].endLine).toBe(15);
  });

  it("draws needs as edges (conditional with when) and on_error branches", () => {
    const g = parseAgentYaml(YAML);
    expect(g.edges).toEqual([
      { id: "normalise->answer", source: "normalise", target: "answer", kind: "needs", conditional: true },
      { id: "answer-error->fallback", source: "answer", target: "fallback", kind: "error", conditional: true },
    ]);
  });

  it("reports YAML errors with their line and keeps no graph", () => {
    const g = parseAgentYaml("name: x\nnodes:\n  - id: a\n   type: [\n");
    expect(g.nodes).toEqual([]);
    expect(g.problems.length).toBeGreaterThan(0);
    expect(g.problems[0].line).toBeGreaterThanOrEqual(3);
  });

  it("reports needs of unknown nodes on the node's line", () => {
    const g = parseAgentYaml("name: x\nnodes:\n  - id: a\n    type: transform\n    needs: [ghost]\n");
    expect(g.problems).toEqual([{ line: 3, message: "a: needs unknown node ghost" }]);
    expect(g.edges).toEqual([]);
  });

  it("accepts a single string in needs", () => {
    const g = parseAgentYaml("name: x\nnodes:\n  - id: a\n    type: transform\n  - id: b\n    type: transform\n    needs: a\n");
    expect(g.edges.map((e) => e.id)).toEqual(["a->b"]);
  });

  it("maps lines and server errors back to nodes", () => {
    const g = parseAgentYaml(YAML);
    expect(nodeAtLine(g, 12)?.id).toBe("answer");
    expect(nodeAtLine(g, 2)).toBeNull();
    expect(nodeOfError(g, { node: "fallback" })?.line).toBe(16);
    expect(nodeOfError(g, { field: "nodes[1].needs" })?.id).toBe("answer");
    expect(nodeOfError(g, { field: "name" })).toBeNull();
  });

  it("parses a 500-node chain quickly", () => {
    const lines = ["name: big", "nodes:"];
    for (let i = 0; i < 500; i++) {
      lines.push(`  - id: n${i}`, "    type: transform", `    value: ${i}`);
      if (i) lines.push(`    needs: [n${i - 1}]`);
    }
    const g = parseAgentYaml(lines.join("\n"));
    expect(g.nodes).toHaveLength(500);
    expect(g.edges).toHaveLength(499);
  });
});

describe("layout", () => {
  it("puts every node below the nodes it needs, without overlaps, at any size", async () => {
    const { layeredLayout, layoutGraph } = await import("./layout");
    const lines = ["name: big", "nodes:"];
    for (let i = 0; i < 300; i++) {
      lines.push(`  - id: n${i}`, "    type: transform", `    value: ${i}`);
      if (i >= 10) lines.push(`    needs: [n${i - 10}, n${i - 10 + ((i + 1) % 10 === 0 ? -9 : 1)}]`);
    }
    const g = parseAgentYaml(lines.join("\n"));
    expect(g.problems).toEqual([]);
    for (const pos of [layeredLayout(g), layoutGraph(g), layoutGraph({ ...g, nodes: g.nodes.slice(0, 20), edges: g.edges.filter((e) => Number(e.target.slice(1)) < 20) })]) {
      const seen = new Set<string>();
      for (const [, p] of pos) {
        const k = `${p.x},${p.y}`;
        expect(seen.has(k)).toBe(false);
        seen.add(k);
      }
      for (const e of g.edges) {
        const s = pos.get(e.source);
        const t = pos.get(e.target);
        if (s && t) expect(t.y).toBeGreaterThan(s.y);
      }
    }
  });
});
