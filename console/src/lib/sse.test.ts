import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("parses events split across chunks, with ids, comments and CRLF", () => {
    const p = new SseParser();
    expect(p.feed("id: 3\nevent: step.comp")).toEqual([]);
    expect(p.feed('leted\ndata: {"node": "a"}\n\n: ping\r\n\r\nevent: message.delta\ndata: hi\ndata: there\n\n')).toEqual([
      { event: "step.completed", data: '{"node": "a"}', id: "3" },
      { event: "message.delta", data: "hi\nthere", id: null },
    ]);
  });

  it("keeps a CRLF split across chunks as one line end", () => {
    const p = new SseParser();
    expect(p.feed("event: message.delta\r")).toEqual([]);
    expect(p.feed('\ndata: {"delta": "The "}\r')).toEqual([]);
    expect(p.feed("\n\r")).toEqual([]);
    expect(p.feed("\n")).toEqual([{ event: "message.delta", data: '{"delta": "The "}', id: null }]);
  });
});
