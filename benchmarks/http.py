"""Runs through the HTTP API, side by side: agentdeck served vs the LangGraph dev server.

    .venv/bin/python benchmarks/http.py [--quick] [--servers langgraph,sqlite,postgres]
        [--scenarios sequential,first_event,chain5_100,sleep5_1000] [--pg URL] [--no-models]

Both servers are driven by the same `langgraph-sdk` code with the same two graphs: `chain5`
(five trivial nodes in a row: agentdeck `transform` nodes) and `sleep5` (five nodes in a row,
each a chat completion from one local fake model upstream that answers after 200 ms:
agentdeck `llm` nodes with an `openai_compatible` provider, LangGraph nodes with httpx). The
fake upstream is an asyncio server in its own process (`_fake_model.py`).

Servers, one at a time (an idle server is stopped before the next starts):
- `langgraph`: `langgraph dev --no-browser --n-jobs-per-worker 1000` (in-memory runtime)
  serving `benchmarks/graphs`;
- `sqlite`: `agentdeck serve` (API and embedded worker, SQLite in a new data dir), the
  install `make serve` makes: the local model warm (and the embedder, after one ingested
  document) unless `--no-models`;
- `postgres`: scaled, a new database on `--pg` migrated with `agentdeck migrate`, two
  `agentdeck serve --no-worker` processes (clients alternate between them) and two
  `agentdeck worker` processes.
The provider, agents and API key are created through agentdeck's HTTP API.

Scenarios (counts with `--quick` in brackets):
- `sequential`: `runs.wait` of chain5, one at a time, 200 [20] runs;
- `first_event`: `runs.stream` of chain5 (`updates`), time from the request to the first
  `updates` event, one at a time, 200 [20] runs;
- `chain5_100`: chain5 `runs.wait` from 100 [10] clients, 1,000 [100] runs;
- `sleep5_1000`: sleep5 `runs.wait` from 1,000 [50] clients, one run each.
Each client is its own `get_client` (its own connection pool). Printed per scenario and
server: p50 and p99 latency, runs per second, errors, the server's CPU per run (utime +
stime of its process tree from /proc, before and after) and its peak RSS (sampled every
100 ms; for the scaled server, the sum over its four processes), with the targets of issue
13 and PASS/MISS. The load generator shares the machine
with the servers, so absolute numbers include that contention.
"""

# This file is named like the standard library's `http`. Whenever a script of this folder
# runs (`python benchmarks/<name>.py`, this one included), Python puts the folder first on
# sys.path, so `import http` (httpx needs it) finds this file, as a module named `http`. In
# that case it loads the standard library's package and puts it in its own place in
# sys.modules (the import system returns what sys.modules holds once a module has run), and
# does nothing else; the benchmark itself lives in `_http_bench`.

from __future__ import annotations

import sys
from pathlib import Path


def _standard_library_http() -> None:
    """Load the standard library's `http` and make it the module `import http` returns."""
    import importlib.machinery
    import importlib.util

    here = Path(__file__).resolve().parent
    path = [p for p in sys.path if Path(p or ".").resolve() != here]
    spec = importlib.machinery.PathFinder.find_spec("http", path)
    if spec is None or spec.loader is None:
        raise ImportError("the standard library's http package was not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules["http"] = module
    spec.loader.exec_module(module)


if __name__ == "http":
    _standard_library_http()
elif __name__ == "__main__":
    from _http_bench import cli

    cli(__doc__.splitlines()[0])
