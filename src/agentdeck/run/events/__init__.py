"""Run events after the journal stored them: where they go and how they are read.

- `bus`: the in-process fan-out (per-run subscriber queues) and the internal signals;
- `relay`: the same items to and from other processes, over a transport (`postgres`:
  LISTEN/NOTIFY, `redis`: pub/sub; both on `channels`);
- `watcher`: the one journal reader per process for runs that nothing delivers live;
- `reader`: a run's stream (replay, then live) and waiting for a run to stop.

An event is written by the journal (`run.journal`), published on the bus by the engine's
sink (`bus.BrokerSink`) once it is durable, relayed by `relay`, and streamed by `reader`.
"""
