import { describe, expect, it } from "vitest";
import { applyApprovalEvent, keepSelection, type Approval } from "./approvals";

const entry = (id: string): Approval =>
  ({ id, agent_id: "a", agent_name: "helper", thread_id: `t${id}`, status: "interrupted" }) as Approval;

describe("applyApprovalEvent", () => {
  it("starts from the snapshot, newest first, and ignores changes before it", () => {
    expect(applyApprovalEvent(null, "added", entry("2"))).toBeNull();
    const items = applyApprovalEvent(null, "snapshot", { items: [entry("1"), entry("3")] });
    expect(items?.map((i) => i.id)).toEqual(["3", "1"]);
  });

  it("adds entries in order once, and removes answered ones", () => {
    let items = applyApprovalEvent(null, "snapshot", { items: [entry("1")] });
    items = applyApprovalEvent(items, "added", entry("2"));
    items = applyApprovalEvent(items, "added", entry("2"));
    expect(items?.map((i) => i.id)).toEqual(["2", "1"]);
    items = applyApprovalEvent(items, "removed", { run_id: "1" });
    expect(items?.map((i) => i.id)).toEqual(["2"]);
    const same = applyApprovalEvent(items, "removed", { run_id: "9" });
    expect(same).toBe(items);
  });

  it("replaces everything with a new snapshot (a reconnect)", () => {
    const items = applyApprovalEvent([entry("1")], "snapshot", { items: [entry("4")] });
    expect(items?.map((i) => i.id)).toEqual(["4"]);
  });
});

describe("keepSelection", () => {
  const items = [entry("3"), entry("2"), entry("1")];
  it("follows the selected run when entries arrive above it", () => {
    expect(keepSelection(items, "2", 0)).toBe(1);
  });
  it("moves to the entry now at its place when the selected one goes", () => {
    expect(keepSelection(items, "gone", 2)).toBe(2);
    expect(keepSelection(items, "gone", 7)).toBe(2);
    expect(keepSelection([], "gone", 0)).toBe(-1);
  });
});
