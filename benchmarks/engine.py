"""Engine benchmarks. Prints numbers; not a test.

    .venv/bin/python benchmarks/engine.py [overhead|concurrency|durable|start|all]

(a) overhead: ms/step of our loop on a 5-node linear graph of no-op transforms (in-memory
    journal without copies, no-op event sink) vs LangGraph StateGraph without checkpointer.
(b) durable: the same graph through any journal (`bench_durable(factory)`), shown here with
    a raw-aiosqlite journal written only for this script (LABELLED: NOT the product's SQL
    journal). Then the product's journal (run/journal/) against LangGraph's
    AsyncSqliteSaver, and against AsyncPostgresSaver when AGENTDECK_BENCH_PG_URL is set (that
    database is RESET): one run at a time (latency of a durable step), and durable steps per
    second with 1, 4, 16 and 64 runs in flight in one process, each side at its best.
(d) start: ms from `run.service.create_run()` (with its commit) to the run's first event
    (`run.started`) through the in-process worker, SQLite (and PostgreSQL as above).
(c) concurrency: 1,000 concurrent runs of 5 linear llm nodes sleeping 200 ms each through a
    fake LLMPort: p50/p99 run latency vs the ideal 1 s, and peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import aiosqlite

from _run_bench import (
    StepCost,
    bench_concurrent_runs,
    bench_sql_journal,
    bench_start_latency,
    summary,
)
from agentdeck.engine import AgentSpec, Engine, MemoryJournal, Ports, StepRecord, StepStatus
from agentdeck.engine.journal import NO_USAGE, EventRecord, Journal, Usage
from agentdeck.engine.ports import ChatRequest, ChatResult
from agentdeck.kit import aio

STEPS = 5


def linear_spec(node: str, n: int = STEPS) -> AgentSpec:
    nodes = []
    for i in range(n):
        spec: dict[str, Any] = json.loads(node)
        spec["id"] = f"n{i}"
        if i:
            spec["needs"] = [f"n{i - 1}"]
        nodes.append(spec)
    return AgentSpec.model_validate({"name": "bench", "nodes": nodes})


async def bench_ours(runs: int, journal_factory: Callable[[], Journal] | None = None) -> float:
    """ms per step of the engine; a fresh run id per run, one journal for all."""
    spec = linear_spec('{"type": "transform", "value": 1}')
    journal = journal_factory() if journal_factory else MemoryJournal(copy_values=False)
    engine = Engine(journal)
    for i in range(20):  # warm-up
        await engine.run(spec, f"warm-{i}")
    started = time.perf_counter()
    for i in range(runs):
        result = await engine.run(spec, f"run-{i}")
        assert result.status == "completed", result.error
    return (time.perf_counter() - started) * 1000 / (runs * STEPS)


class _State(TypedDict):
    x: int


async def bench_langgraph(
    runs: int, checkpointer: Any = None, durability: str | None = None, concurrency: int = 1
) -> float | None:
    """ms/step of LangGraph on the same graph. ``durability`` (with a checkpointer): "sync"
    writes each checkpoint before the next step, "async" (LangGraph's default) while it runs."""
    try:
        from langgraph.graph import END, START, StateGraph
    except ImportError:
        return None

    async def noop(state: _State) -> _State:
        return {"x": state["x"] + 1}

    builder = StateGraph(_State)
    for i in range(STEPS):
        builder.add_node(f"n{i}", noop)
    builder.add_edge(START, "n0")
    for i in range(1, STEPS):
        builder.add_edge(f"n{i - 1}", f"n{i}")
    builder.add_edge(f"n{STEPS - 1}", END)
    graph = builder.compile(checkpointer=checkpointer)

    tag = uuid.uuid4().hex[:8]

    def config(i: int) -> Any:
        return {"configurable": {"thread_id": f"t{tag}-{i}"}}

    extra: dict[str, Any] = {"durability": durability} if durability else {}
    for i in range(20):
        await graph.ainvoke({"x": 0}, config(-i - 1), **extra)
    todo = iter(range(runs))

    async def lane() -> None:
        for i in todo:
            await graph.ainvoke({"x": 0}, config(i), **extra)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return (time.perf_counter() - started) * 1000 / (runs * STEPS)


async def overhead(runs: int = 2000) -> None:
    ours = await bench_ours(runs)
    theirs = await bench_langgraph(max(200, runs // 4))
    print(f"(a) overhead, {STEPS}-node linear no-op graph, no persistence")
    print(f"    agentdeck engine : {ours:.4f} ms/step  (target <= 0.1)")
    if theirs is None:
        print("    langgraph        : not installed (pip install langgraph)")
    else:
        print(f"    langgraph 1.x    : {theirs:.4f} ms/step")
        print(f"    ratio            : {theirs / ours:.1f}x faster (target >= 3x)")


# ---- (b) durable journals -------------------------------------------------------------


class RawSqliteJournal:
    """BENCHMARK-ONLY journal on raw aiosqlite (WAL, synchronous=NORMAL), one commit per
    write. It shows what a SQL journal can reach; the product's journal lives elsewhere."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self._seq: dict[str, int] = {}

    @classmethod
    async def open(cls, path: str) -> RawSqliteJournal:
        db = await aiosqlite.connect(path)
        await db.executescript(
            """
            PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
            CREATE TABLE IF NOT EXISTS step (run_id TEXT, node_id TEXT, idx INT, attempt INT,
              status TEXT, key TEXT, input TEXT, output TEXT, error TEXT, started TEXT,
              ended TEXT, tin INT, tout INT, cost REAL,
              PRIMARY KEY (run_id, node_id, idx, attempt));
            CREATE TABLE IF NOT EXISTS event (run_id TEXT, seq INT, type TEXT, data TEXT,
              created TEXT, PRIMARY KEY (run_id, seq));
            """
        )
        return cls(db)

    async def load(self, run_id: str) -> list[StepRecord]:
        rows = await self.db.execute_fetchall(
            "SELECT node_id, idx, attempt, status, key, input, output, error FROM step "
            "WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [
            StepRecord(
                run_id=run_id, node_id=r[0], index=None if r[1] < 0 else r[1], attempt=r[2],
                status=StepStatus(r[3]), idempotency_key=r[4], input=json.loads(r[5]),
                output=json.loads(r[6]), error=json.loads(r[7]),
            )
            for r in rows
        ]  # fmt: skip

    async def start_step(
        self, run_id: str, node_id: str, *, attempt: int, index: int | None = None,
        input: Any = None, idempotency_key: str,
    ) -> StepRecord:  # fmt: skip
        now = datetime.now(UTC)
        await self.db.execute(
            "INSERT INTO step (run_id, node_id, idx, attempt, status, key, input, output, "
            "error, started) VALUES (?, ?, ?, ?, 'running', ?, ?, 'null', 'null', ?)",
            (run_id, node_id, -1 if index is None else index, attempt, idempotency_key,
             json.dumps(input), now.isoformat()),
        )  # fmt: skip
        await self.db.commit()
        return StepRecord(
            run_id=run_id, node_id=node_id, attempt=attempt, status=StepStatus.RUNNING,
            idempotency_key=idempotency_key, index=index, input=input, started_at=now,
        )  # fmt: skip

    async def finish_step(
        self, run_id: str, node_id: str, *, attempt: int, index: int | None = None,
        status: StepStatus, output: Any = None, error: dict[str, Any] | None = None,
        usage: Usage = NO_USAGE,
    ) -> StepRecord:  # fmt: skip
        now = datetime.now(UTC)
        await self.db.execute(
            "UPDATE step SET status=?, output=?, error=?, ended=?, tin=?, tout=?, cost=? "
            "WHERE run_id=? AND node_id=? AND idx=? AND attempt=?",
            (status.value, json.dumps(output), json.dumps(error), now.isoformat(),
             usage.tokens_in, usage.tokens_out, usage.cost_usd, run_id, node_id,
             -1 if index is None else index, attempt),
        )  # fmt: skip
        await self.db.commit()
        return StepRecord(
            run_id=run_id, node_id=node_id, attempt=attempt, status=status,
            idempotency_key=f"{run_id}:{node_id}", index=index, output=output, error=error,
            ended_at=now, usage=usage,
        )  # fmt: skip

    async def record_step(self, record: StepRecord) -> None:
        await self.start_step(
            record.run_id, record.node_id, attempt=record.attempt, index=record.index,
            input=record.input, idempotency_key=record.idempotency_key,
        )  # fmt: skip
        await self.finish_step(
            record.run_id, record.node_id, attempt=record.attempt, index=record.index,
            status=record.status, output=record.output, error=record.error,
        )  # fmt: skip

    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        seq = self._seq.get(run_id, 0) + 1  # single writer per run in this benchmark
        self._seq[run_id] = seq
        await self.db.execute(
            "INSERT INTO event VALUES (?, ?, ?, ?, ?)",
            (run_id, seq, type, json.dumps(data), datetime.now(UTC).isoformat()),
        )
        await self.db.commit()
        return seq

    async def events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        rows = await self.db.execute_fetchall(
            "SELECT seq, type, data, created FROM event WHERE run_id=? AND seq>? ORDER BY seq",
            (run_id, after),
        )
        return [
            EventRecord(run_id, r[0], r[1], json.loads(r[2]), datetime.fromisoformat(r[3]))
            for r in rows
        ]


async def bench_durable(
    journal_factory: Callable[[], Awaitable[Journal]], runs: int = 200
) -> float:
    """Hook for durable journals: ms/step of the 5-node graph through `journal_factory()`.

    Use it for the SQLite/PostgreSQL journals once they exist.
    """
    journal = await journal_factory()
    return await bench_ours(runs, lambda: journal)


async def durable(runs: int = 200) -> None:
    print("(b) durable journal, same graph; each step's outcome is committed before the next")
    with tempfile.TemporaryDirectory() as tmp:
        opened: list[RawSqliteJournal] = []

        async def factory() -> Journal:
            journal = await RawSqliteJournal.open(os.path.join(tmp, "bench.db"))
            opened.append(journal)
            return journal

        ms = await bench_durable(factory, runs)
        for journal in opened:
            await journal.db.close()
        print(f"    agentdeck + RAW aiosqlite bench journal (not the product's): {ms:.3f} ms/step")
        spec = linear_spec('{"type": "transform", "value": 1}')
        files = iter(range(1_000_000))

        def sqlite_url() -> str:
            return f"sqlite+aiosqlite:///{os.path.join(tmp, f'sql-{next(files)}.db')}"

        ours = (await bench_sql_journal(sqlite_url(), Path(tmp), spec, runs)).wall_ms
        print("    SQLite, one run at a time (ms per durable step):")
        print(f"      agentdeck + SqlJournal: {ours:.3f} ms/step  (target <= 0.5)")
        try:
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
        except ImportError:
            print("    langgraph + AsyncSqliteSaver: langgraph-checkpoint-sqlite not installed")
        else:
            async with AsyncSqliteSaver.from_conn_string(os.path.join(tmp, "lg.db")) as saver:
                for mode, theirs in (await _langgraph_modes(saver, runs)).items():
                    print(
                        f"      langgraph + AsyncSqliteSaver, durability={mode}: "
                        f"{theirs:.3f} ms/step, ours {theirs / ours:.1f}x faster"
                    )

            @asynccontextmanager
            async def sqlite_saver(_lanes: int) -> AsyncIterator[Any]:
                path = os.path.join(tmp, f"lg-{next(files)}.db")
                async with AsyncSqliteSaver.from_conn_string(path) as saver:
                    yield saver

            await _throughput(
                "SQLite",
                lambda n, lanes: bench_sql_journal(sqlite_url(), Path(tmp), spec, n, lanes),
                sqlite_saver,
                runs,
            )
        pg_url = os.environ.get("AGENTDECK_BENCH_PG_URL")
        if not pg_url:
            print("    PostgreSQL: set AGENTDECK_BENCH_PG_URL (that database is RESET)")
            return
        await _durable_pg(pg_url, Path(tmp), spec, runs)


async def _durable_pg(pg_url: str, tmp: Path, spec: AgentSpec, runs: int) -> None:
    pg = (await bench_sql_journal(pg_url, tmp, spec, runs)).wall_ms
    pg_run = (await bench_sql_journal(pg_url, tmp, spec, runs, flush="run")).wall_ms
    floor = await _flush_floor(pg_url)
    print("    PostgreSQL, one run at a time (ms per durable step):")
    print(f"      floor: one INSERT committed with a WAL flush, raw asyncpg: {floor:.3f} ms")
    print(f"      agentdeck + SqlJournal, WAL flush per step: {pg:.3f} ms/step")
    print(f"      agentdeck + SqlJournal, WAL flush per run : {pg_run:.3f} ms/step")
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        print("    langgraph + AsyncPostgresSaver: langgraph-checkpoint-postgres not installed")
        return
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    async with AsyncPostgresSaver.from_conn_string(dsn) as saver:
        await saver.setup()
        for mode, theirs in (await _langgraph_modes(saver, runs)).items():
            print(
                f"      langgraph + AsyncPostgresSaver, durability={mode}: {theirs:.3f} ms/step, "
                f"ours {theirs / pg:.1f}x (flush per step), {theirs / pg_run:.1f}x (per run); "
                f"a journal at the floor would be {theirs / floor:.1f}x"
            )

    @asynccontextmanager
    async def pg_saver(lanes: int) -> AsyncIterator[Any]:
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        async with AsyncConnectionPool(
            dsn, min_size=1, max_size=lanes, kwargs=kwargs, open=False
        ) as pool:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            await saver.setup()
            yield saver

    await _throughput(
        "PostgreSQL",
        lambda n, lanes: bench_sql_journal(pg_url, tmp, spec, n, lanes),
        pg_saver,
        runs,
    )


async def _langgraph_modes(saver: Any, runs: int, concurrency: int = 1) -> dict[str, float]:
    """ms/step of LangGraph on the same graph with ``saver``, in both durability modes."""
    out: dict[str, float] = {}
    for mode in ("async", "sync"):
        ms = await bench_langgraph(runs, saver, durability=mode, concurrency=concurrency)
        assert ms is not None
        out[mode] = ms
    return out


async def _flush_floor(pg_url: str, n: int = 2000) -> float:
    """ms per single-row INSERT, each its own transaction committed with a WAL flush, on one
    raw asyncpg connection: what one durable step costs at least when each step's outcome
    must be durable before the next step starts, whatever the journal."""
    import asyncpg

    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:  # a logged table (temporary tables write no WAL)
        await conn.execute("DROP TABLE IF EXISTS bench_floor")
        await conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, v text)")
        insert = await conn.prepare("INSERT INTO bench_floor (v) VALUES ($1)")
        for _ in range(200):
            await insert.fetch("x")
        started = time.perf_counter()
        for _ in range(n):
            await insert.fetch("x")
        return (time.perf_counter() - started) * 1000 / n
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_floor")
        await conn.close()


LANES = (1, 4, 16, 64)


async def _throughput(
    name: str,
    ours: Callable[[int, int], Awaitable[StepCost]],
    saver: Callable[[int], AbstractAsyncContextManager[Any]],
    runs: int,
) -> None:
    """Durable steps per second with 1..64 runs in flight in one process, each side at its
    best: ours group-commits the steps of all runs in flight; LangGraph gets a checkpointer
    per level (on PostgreSQL a pool of as many connections as runs in flight) and both of
    its durability modes. The target compares the two peaks."""
    print(f"    {name}, durable steps per second with N runs in flight (one process each;")
    print("    ours: WAL flush per step; langgraph: the faster of durability=sync/async):")
    peak_ours = peak_theirs = 0.0
    for lanes in LANES:
        cost = await ours(runs if lanes == 1 else runs * 4, lanes)
        async with saver(lanes) as checkpointer:
            n = runs if lanes == 1 else runs * 2
            theirs = await _langgraph_modes(checkpointer, n, lanes)
        mine, best = 1000 / cost.wall_ms, 1000 / min(theirs.values())
        peak_ours, peak_theirs = max(peak_ours, mine), max(peak_theirs, best)
        print(
            f"      {lanes:3} in flight: agentdeck {mine:7,.0f}/s (CPU {cost.cpu_ms:.3f} ms/step)"
            f"   langgraph {best:5,.0f}/s   {mine / best:5.1f}x"
        )
    print(
        f"      peak: agentdeck {peak_ours:,.0f}/s, langgraph {peak_theirs:,.0f}/s: "
        f"{peak_ours / peak_theirs:.1f}x (target >= 8x)"
    )


async def start_latency(n: int = 50) -> None:
    spec = {"name": "start", "nodes": [{"id": "a", "type": "transform", "value": 1}]}
    print("(d) start latency to the run's first event (run.started), in-process worker")
    print("    'call': from the create_run() call, its checks, insert and commit included;")
    print("    'created': from the commit of the run (it exists) to its first event")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{os.path.join(tmp, 'start.db')}"
        targets = [("SQLite", url)]
        pg_url = os.environ.get("AGENTDECK_BENCH_PG_URL")
        if pg_url:
            targets.append(("PostgreSQL", pg_url))
        for name, target in targets:
            call, created = await bench_start_latency(target, Path(tmp), spec, n)
            print(f"    {name:10} call   : {summary(call)}")
            print(f"    {name:10} created: {summary(created)}  (target p50 <= 10)")


# ---- (c) concurrency ------------------------------------------------------------------


class SleepyLLM:
    async def chat(self, request: ChatRequest) -> ChatResult:
        await asyncio.sleep(0.2)
        return ChatResult(text="ok")

    async def stream(
        self, request: ChatRequest, on_delta: Callable[[str], Awaitable[None]]
    ) -> ChatResult:
        return await self.chat(request)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def concurrency(runs: int = 1000) -> None:
    spec = linear_spec('{"type": "llm", "prompt": "hi", "stream": false}')
    engine = Engine(MemoryJournal(copy_values=False), ports=Ports(llm=SleepyLLM()))

    async def one(i: int) -> float:
        started = time.perf_counter()
        result = await engine.run(spec, f"c-{i}")
        assert result.status == "completed", result.error
        return time.perf_counter() - started

    started = time.perf_counter()
    latencies = sorted(await asyncio.gather(*(one(i) for i in range(runs))))
    wall = time.perf_counter() - started
    print(f"(c) concurrency: {runs} runs x {STEPS} llm nodes sleeping 200 ms (ideal 1.0 s)")
    print(f"    in-memory journal : {_percentiles(latencies)}   wall {wall:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite+aiosqlite:///{os.path.join(tmp, 'c.db')}")]
        pg_url = os.environ.get("AGENTDECK_BENCH_PG_URL")
        if pg_url:
            targets.append(("PostgreSQL", pg_url))
        for name, url in targets:
            stored = await bench_concurrent_runs(url, Path(tmp), spec, runs, Ports(llm=SleepyLLM()))
            print(f"    SqlJournal, {name:10}: {_percentiles(stored)}  (every step stored)")
    print(f"    peak RSS {_rss_mib():.0f} MiB (target < 1024)")


def _percentiles(latencies: list[float]) -> str:
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return f"p50 {p50:.3f} s   p99 {p99:.3f} s (target <= 1.3)"


async def main(which: str) -> None:
    if which in ("overhead", "all"):
        await overhead()
    if which in ("durable", "all"):
        await durable()
    if which in ("start", "all"):
        await start_latency()
    if which in ("concurrency", "all"):
        await concurrency()


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    # Both sides run in this one process on the loop the product's processes use
    # (`kit.aio.run`: uvloop); AGENTDECK_BENCH_LOOP=asyncio measures on asyncio's own.
    if os.environ.get("AGENTDECK_BENCH_LOOP") == "asyncio":
        print("event loop: asyncio (both sides)")
        asyncio.run(main(which))
    else:
        print("event loop: uvloop, as agentdeck serve/worker run (both sides)")
        aio.run(main(which))
