// Server-sent events read with fetch (EventSource cannot send Authorization), resumed after
// a dropped connection with Last-Event-ID.

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/** Incremental parser: feed chunks of text, get whole events. */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | null = null;

  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A CR at the end may be the first half of a CRLF split across chunks: wait.
      if (this.buffer[nl] === "\r" && nl === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, nl);
      const skip = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + skip);
      if (line === "") {
        if (this.data.length || this.event) {
          out.push({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
        }
        this.event = "";
        this.data = [];
        this.id = null;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
    }
    return out;
  }
}

export interface StreamOptions {
  headers: () => Record<string, string>;
  onEvent: (e: SseEvent) => void;
  signal: AbortSignal;
  /** Events after which the stream is over (no reconnect). */
  final?: (e: SseEvent) => boolean;
  retries?: number;
}

/** Follow an SSE URL until a final event, the server closing cleanly, or abort. */
export async function followStream(url: string, opts: StreamOptions): Promise<void> {
  let lastId: string | null = null;
  let failures = 0;
  const retries = opts.retries ?? 5;
  while (!opts.signal.aborted) {
    let ended = false;
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream", ...opts.headers() };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const res = await fetch(url, { headers, signal: opts.signal });
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const e of parser.feed(value)) {
          if (e.id) lastId = e.id;
          failures = 0;
          opts.onEvent(e);
          if (opts.final?.(e)) ended = true;
        }
        if (ended) {
          await reader.cancel();
          return;
        }
      }
      return; // the server ended the stream: the run stopped
    } catch (err) {
      if (opts.signal.aborted) return;
      failures += 1;
      if (failures > retries) throw err;
      await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** failures)));
    }
  }
}
