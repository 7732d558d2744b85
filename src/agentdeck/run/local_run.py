"""`agentdeck run FILE`: import a definition as an agent and run it in this process.

The CLI acts as a dedicated local account (``local@agentdeck.localhost``, created on first
use with an unguessable password that is never shown): its personal space holds the imported
agents, so local runs are ordinary runs visible in the API. An in-process worker executes the
run; a `rich` live table shows each step as events arrive.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentdeck.agent import service as agents
from agentdeck.auth.principal import Principal
from agentdeck.engine import AgentSpec, SpecError, parse_spec, validate
from agentdeck.errors import AppError, NotFound
from agentdeck.kit.db import transaction
from agentdeck.models import Run
from agentdeck.run import service
from agentdeck.runtime import Runtime
from agentdeck.worker.loop import Worker

EXIT = {"completed": 0, "failed": 1, "cancelled": 1, "interrupted": 3}
EXIT_INVALID = 2
_STYLE = {"running": "yellow", "completed": "green", "failed": "red", "skipped": "dim"}


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON is used as JSON, else as text.

    Raises ValueError for a pair without ``=``.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def load_spec(text: str, filename: str) -> AgentSpec:
    """Parse and check a definition; raises SpecError listing every problem."""
    kind = "application/json" if filename.endswith(".json") else "application/yaml"
    spec = parse_spec(text, kind)
    problems = validate(spec)
    if problems:
        raise SpecError(problems)
    return spec


async def import_agent(
    runtime: Runtime, principal: Principal, spec: AgentSpec, source: str
) -> uuid.UUID:
    """The local agent named like the spec, with ``source`` as its newest version."""
    space_id = next(iter(principal.scope.space_roles))
    async with transaction(runtime.sessionmaker) as session:
        try:
            agent = await agents.resolve(session, principal, spec.name, space_ids={space_id})
        except NotFound:
            return (await agents.create(session, principal, space_id, source=source)).id
        current = await agents.get_version(session, principal, agent.id, agent.current_version)
        if current.source != source:
            await agents.create_version(session, principal, agent.id, source=source)
        return agent.id


def _table(spec: AgentSpec, status: dict[str, str], note: str) -> Table:
    table = Table(title=f"agent {spec.name}  {note}", expand=False)
    table.add_column("step")
    table.add_column("status")
    for node in spec.nodes:
        state = status.get(node.id, "pending")
        table.add_row(node.id, f"[{_STYLE.get(state, 'white')}]{state}[/]")
    return table


async def run_local(
    runtime: Runtime,
    principal: Principal,
    worker: Worker,
    spec: AgentSpec,
    source: str,
    inputs: dict[str, Any],
    console: Console,
) -> Run:
    """Import, start and follow the run to its end; the final run row."""
    agent_id = await import_agent(runtime, principal, spec, source)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with transaction(runtime.sessionmaker) as session:
            run = await service.create_run(session, principal, agent_id=agent_id, inputs=inputs)
        status: dict[str, str] = {}
        with Live(_table(spec, status, "starting"), console=console, transient=False) as live:
            async for item in service.stream_events(runtime, run, run.id, include_deltas=False):
                node = item.data.get("node")
                if item.type.startswith("step.") and isinstance(node, str):
                    status[node] = item.type.removeprefix("step.").replace("started", "running")
                live.update(_table(spec, status, item.type))
        return await service.wait_for_run(runtime, run.id)
    finally:
        stop.set()
        await task


async def main(
    runtime: Runtime,
    principal_for: Callable[[Runtime], Awaitable[Principal]],
    make_worker: Callable[[Runtime], Worker],
    text: str,
    filename: str,
    pairs: list[str],
    console: Console,
) -> int:
    """The whole command; the process exit code."""
    try:
        spec = load_spec(text, filename)
        inputs = parse_inputs(pairs)
    except SpecError as exc:
        for problem in exc.problems:
            console.print(f"[red]{problem.loc or '(root)'}[/red]: {problem.msg}")
        return EXIT_INVALID
    except ValueError as exc:
        console.print(f"[red]invalid --input:[/red] {exc}")
        return EXIT_INVALID
    principal = await principal_for(runtime)
    try:
        run = await run_local(runtime, principal, make_worker(runtime), spec, text, inputs, console)
    except AppError as exc:
        console.print(f"[red]{exc.title}:[/red] {exc.detail}")
        return EXIT_INVALID if exc.status in (404, 409, 422) else 1
    if run.status == "completed":
        console.print_json(data={"output": run.output})
    elif run.status == "interrupted":
        console.print_json(data={"interrupt": run.interrupt, "run_id": str(run.id)})
    else:
        console.print_json(data={"error": run.error, "run_id": str(run.id)})
    return EXIT.get(run.status, 1)
