import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { analyse } from "./analyse";
import { analysed, analyseSource } from "./graphWorker";
import { graphOfDefinition, parseAgentYaml } from "./graph";
import { edgePaths, fitViewport, NODE_H, NODE_W, structureKey, type Positions } from "./layout";

const YAML = `name: triage
nodes:
  - id: normalise
    type: transform
    value: "{{ inputs.ticket }}"
  - id: answer
    type: llm
    needs: [normalise]
    when: "{{ inputs.ticket }}"
    prompt: "Answer"
    on_error: fallback
  - id: fallback
    type: transform
    value: sorry
`;

describe("analyse", () => {
  it("parses and lays out; wording changes keep the positions, new edges do not", () => {
    const a = analyse(YAML);
    expect(a.graph.nodes.map((n) => n.id)).toEqual(["normalise", "answer", "fallback"]);
    expect([...a.positions.keys()].sort()).toEqual(["answer", "fallback", "normalise"]);
    const reworded = analyse(YAML.replace('prompt: "Answer"', 'prompt: "Answer kindly"'), a);
    expect(reworded.key).toBe(a.key);
    expect(reworded.positions).toBe(a.positions);
    const rewired = analyse(YAML.replace("value: sorry", "value: sorry\n    needs: [normalise]"), a);
    expect(rewired.key).not.toBe(a.key);
    expect(rewired.positions).not.toBe(a.positions);
  });

  it("off the page (no Worker here, so in this thread), one analysis per source", async () => {
    const first = analyseSource(YAML);
    expect(analyseSource(YAML)).toBe(first);
    expect(analysed(YAML)).toBeUndefined();
    const a = await first;
    expect(analysed(YAML)).toBe(a);
    expect(a.graph.edges.map((e) => e.id)).toEqual(["normalise->answer", "answer-error->fallback"]);
  });
});

describe("graphOfDefinition", () => {
  it("gives the nodes and edges the YAML gives, without lines", () => {
    const fromYaml = parseAgentYaml(YAML);
    const fromDefinition = graphOfDefinition(parse(YAML) as Record<string, unknown>);
    expect(structureKey(fromDefinition)).toBe(structureKey(fromYaml));
    expect(fromDefinition.edges).toEqual(fromYaml.edges);
    expect(fromDefinition.nodes.map((n) => n.line)).toEqual([0, 0, 0]);
    expect(graphOfDefinition({ name: "empty" }).nodes).toEqual([]);
  });
});

describe("fitViewport", () => {
  const positions: Positions = new Map([
    ["a", { x: 0, y: 0 }],
    ["b", { x: 1000, y: 0 }],
    ["c", { x: 0, y: 5000 }],
  ]);

  it("centres the chosen nodes in the pane, zoom within bounds", () => {
    const v = fitViewport(positions, ["a", "b"], 600, 400, { minZoom: 0.05, maxZoom: 2 });
    const width = 1000 + NODE_W;
    expect(v.zoom).toBeCloseTo(600 / (width * 1.1));
    expect(v.x + (width / 2) * v.zoom).toBeCloseTo(300); // the middle of a..b at the pane's middle
    expect(v.y + (NODE_H / 2) * v.zoom).toBeCloseTo(200);
  });

  it("keeps a readable zoom and the top of the graph at the top when asked", () => {
    const v = fitViewport(positions, ["a", "b"], 600, 400, { minZoom: 0.5, maxZoom: 1, top: true });
    expect(v.zoom).toBe(0.5);
    expect(v.y).toBeCloseTo(20); // half the padding (10 % of 400)
  });

  it("fits all nodes when none are named, and copes with none at all", () => {
    const v = fitViewport(positions, [], 600, 400, { minZoom: 0.01, maxZoom: 2 });
    expect(v.zoom).toBeCloseTo(400 / ((5000 + NODE_H) * 1.1));
    expect(fitViewport(new Map(), [], 600, 400, { minZoom: 0.1, maxZoom: 2 })).toEqual({ x: 0, y: 0, zoom: 1 });
  });
});

describe("edgePaths", () => {
  it("draws each edge from the bottom centre of its source to the top centre of its target", () => {
    const positions: Positions = new Map([
      ["a", { x: 0, y: 0 }],
      ["b", { x: 200, y: 100 }],
    ]);
    const { lines, arrows } = edgePaths([{ source: "a", target: "b" }, { source: "a", target: "ghost" }], positions);
    const sx = NODE_W / 2, sy = NODE_H, tx = 200 + NODE_W / 2, ty = 100;
    const mid = (ty - sy) / 2;
    expect(lines).toBe(`M${sx} ${sy}C${sx} ${sy + mid} ${tx} ${ty - mid} ${tx} ${ty}`);
    expect(arrows).toBe(`M${tx - 5} ${ty - 9}L${tx} ${ty}L${tx + 5} ${ty - 9}Z`);
  });
});
