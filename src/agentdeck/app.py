"""create_app(): settings, database, middleware, error handlers and the ONE list of routers."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy import text

from agentdeck import __version__
from agentdeck._middleware import RequestContextMiddleware
from agentdeck.agent.endpoints import router as agent_router
from agentdeck.apikey.endpoints import router as apikey_router
from agentdeck.approval.endpoints import router as approval_router
from agentdeck.assistant.endpoints import router as assistant_router
from agentdeck.audit.endpoints import router as audit_router
from agentdeck.auth import principal_cache
from agentdeck.auth import tasks as auth_tasks
from agentdeck.auth.endpoints import me_router
from agentdeck.auth.endpoints import router as auth_router
from agentdeck.budget.endpoints import router as budget_router
from agentdeck.catalog.endpoints import router as catalog_router
from agentdeck.catalog.service import local_model_available
from agentdeck.config import Settings, get_settings, resolve_secrets
from agentdeck.console import mount_console
from agentdeck.credential.endpoints import router as credential_router
from agentdeck.gateway import tasks as gateway_tasks
from agentdeck.gateway.endpoints import router as gateway_router
from agentdeck.gateway.service import close_gateway, get_gateway
from agentdeck.kit.crypto import Cipher
from agentdeck.kit.db import create_engine, create_sessionmaker
from agentdeck.knowledge import crawl_tasks
from agentdeck.knowledge import tasks as knowledge_tasks
from agentdeck.knowledge.endpoints import router as knowledge_router
from agentdeck.knowledge.registry import attach as attach_knowledge
from agentdeck.knowledge.settings import KnowledgeSettings
from agentdeck.knowledge.sources_endpoints import router as knowledge_sources_router
from agentdeck.llm.local import engine as local_engine
from agentdeck.logging import configure_logging
from agentdeck.mcp.endpoints import mount as mount_mcp
from agentdeck.migrations import is_current
from agentdeck.openai.endpoints import router as openai_router
from agentdeck.org.endpoints import router as org_router
from agentdeck.problems import install_error_handlers, problem_response
from agentdeck.prompt.endpoints import router as prompt_router
from agentdeck.provider.endpoints import router as provider_router
from agentdeck.run import tasks as run_tasks
from agentdeck.run.endpoints import router as run_router
from agentdeck.run.events.postgres import job_wakeups
from agentdeck.run.events.relay import PubSubMode, Relay, relay_for
from agentdeck.run.services import attach as attach_run_services
from agentdeck.run.services import services_for
from agentdeck.run.settings import RunSettings, WorkerSettings
from agentdeck.run.ws import router as ws_router
from agentdeck.runtime import Runtime
from agentdeck.space.endpoints import router as space_router
from agentdeck.store.endpoints import router as store_router
from agentdeck.thread.endpoints import router as thread_router
from agentdeck.tool.endpoints import router as toolset_router
from agentdeck.usage.endpoints import router as usage_router
from agentdeck.worker.loop import JobHandler, Periodic, Worker, WorkerOptions

if TYPE_CHECKING:
    from agentdeck.modelhost.host import ModelHost

API_PREFIX = "/api/v1"
log = structlog.get_logger(__name__)

ROUTERS: list[APIRouter] = [
    auth_router,
    me_router,
    org_router,
    space_router,
    apikey_router,
    audit_router,
    provider_router,
    credential_router,
    toolset_router,
    catalog_router,
    gateway_router,
    usage_router,
    budget_router,
    agent_router,
    assistant_router,
    thread_router,
    store_router,
    prompt_router,
    run_router,
    approval_router,
    ws_router,
    knowledge_router,
    knowledge_sources_router,
]

# Mounted at the root: the OpenAI-compatible API lives at /v1, where its clients look.
ROOT_ROUTERS: list[APIRouter] = [openai_router]

# Document uploads may exceed the API's body limit: the documents endpoint enforces the
# knowledge upload limit on the file itself (a 413 naming `file`), plus multipart framing.
_UPLOADS = re.compile(r"^/api/v1/knowledge-bases/[^/]+/documents$")
_MULTIPART_SLACK = 64 * 1024
_DRAIN_S = 2.0  # how long streams get to send their final event before uvicorn closes them

JOB_HANDLERS: dict[str, JobHandler] = {
    auth_tasks.CLEANUP: auth_tasks.cleanup,
    gateway_tasks.PURGE_CACHE: gateway_tasks.purge_cache,
    run_tasks.EXECUTE: run_tasks.execute,
    knowledge_tasks.INGEST: knowledge_tasks.ingest,
    crawl_tasks.CRAWL: crawl_tasks.crawl_source,
    crawl_tasks.CRAWL_SCHEDULE: crawl_tasks.start_due_crawls,
}

CPU_JOBS = (knowledge_tasks.INGEST, crawl_tasks.CRAWL)
"""Job kinds that parse and embed: bounded per worker so they cannot starve runs."""

PERIODIC_JOBS: list[Periodic] = [
    Periodic(auth_tasks.CLEANUP, dt.timedelta(hours=1)),
    Periodic(gateway_tasks.PURGE_CACHE, dt.timedelta(hours=1)),
    Periodic(crawl_tasks.CRAWL_SCHEDULE, crawl_tasks.SCHEDULE_EVERY),
]


def build_worker(runtime: Runtime, *, embedded: bool = False) -> Worker:
    """A worker for every job kind of the platform, woken at once when a run is created
    (in-process, and on PostgreSQL by LISTEN from any process). Unless ``embedded`` in the
    API's process, its run events are also relayed to the API processes."""
    tuning = WorkerSettings()
    options = WorkerOptions(
        concurrency=tuning.concurrency,
        lease_s=tuning.lease_s,
        poll_s=tuning.poll_s,
        grace_s=tuning.grace_s,
        periodic=PERIODIC_JOBS,
        kind_limits=dict.fromkeys(CPU_JOBS, tuning.cpu_jobs),
    )
    handlers = JOB_HANDLERS
    if runtime.settings.engine == "temporal":  # runs are workflows, never this queue's jobs:
        # a `run.execute` job left by the embedded engine is not taken (its pending run is
        # started on Temporal by the sweeper of lost starts)
        handlers = {k: v for k, v in JOB_HANDLERS.items() if k != run_tasks.EXECUTE}
    worker = Worker(runtime.sessionmaker, handlers, options)
    services = attach_run_services(
        runtime.engine,
        cipher=runtime.cipher,
        wake=worker.wake,
        eager=worker,
        gateway=get_gateway(runtime),
    )
    attach_knowledge(runtime, wake=worker.wake)
    listener = job_wakeups(runtime.settings.resolved_db_url, worker.wake)
    if listener is not None:
        worker.companions.append(listener)
    relay = None if embedded else _relay(runtime, services.settings.pubsub)
    if relay is not None:
        worker.companions.append(relay)
    if runtime.settings.engine == "temporal":  # runs are workflows: this worker polls them
        from agentdeck.temporal.worker import TemporalWorker

        worker.companions.append(TemporalWorker(runtime))
    return worker


def _relay(runtime: Runtime, mode: PubSubMode) -> Relay | None:
    """This process's relay of run events to the others, attached to its broker."""
    settings = runtime.settings
    relay = relay_for(mode, settings.resolved_db_url, settings.llm.redis_url)
    if relay is not None:
        attach_run_services(runtime.engine, relay=relay)
    return relay


async def warm_local_model(settings: Settings) -> None:
    """Load the offline model in the background so the first local chat is fast."""
    if not settings.llm.warm_local_model or not local_model_available():
        return
    try:
        await local_engine().warm()
        log.info("llm.local_model_warm")
    except Exception:
        log.exception("llm.local_model_warm_failed")


def build_runtime(settings: Settings) -> Runtime:
    """Open the database and load (or create) the secrets. Refuses weak production secrets."""
    jwt_secret, master_key, older = resolve_secrets(settings)
    principal_cache.install()  # a change to keys, members or spaces empties it on commit
    engine = create_engine(
        settings.resolved_db_url,
        echo=settings.db.echo,
        busy_timeout_ms=settings.db.sqlite_busy_timeout_ms,
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        cipher=Cipher(master_key, older),
        jwt_secret=jwt_secret,
    )


_PROBLEM_SCHEMA: dict[str, object] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. Validation errors list each wrong field.",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status", "detail"],
    "example": {
        "type": "https://agentdeck.dev/problems/invalid-input",
        "title": "Invalid input",
        "status": 422,
        "detail": "name: String should have at least 1 character",
        "field": "name",
        "errors": [{"field": "name", "location": "body", "message": "too short"}],
    },
}


def _problem_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with its 422 shape replaced by the problem+json we really send."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = _PROBLEM_SCHEMA
    for name, component in components.items():
        if name.startswith("Body_token_"):
            component["example"] = {"username": "ada@example.org", "password": "correct horse"}
    ref = {"$ref": "#/components/schemas/Problem"}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"]["content"] = {"application/problem+json": {"schema": ref}}
    app.openapi_schema = schema
    return schema


async def _drain(runtime: Runtime, stop: asyncio.Event) -> None:
    """Begin to stop (the server calls this at SIGTERM, before waiting for connections): the
    embedded worker claims nothing new and checkpoints within its grace period, and every
    stream and waiter of this process ends now with a final event or a 503."""
    stop.set()
    broker = services_for(runtime.sessionmaker).broker
    broker.drain()
    await broker.drained(_DRAIN_S)


def create_app(  # noqa: PLR0915 (wiring: one statement per part of the app)
    settings: Settings | None = None,
    *,
    configure_logs: bool = True,
    start_worker: bool = False,
    model_host: ModelHost | None = None,
) -> FastAPI:
    """The agentdeck ASGI application; with ``start_worker`` it also runs a worker in-process,
    and with ``model_host`` the offline models run in that host's child process."""
    settings = settings or get_settings()
    if configure_logs:
        configure_logging(json_logs=settings.is_production, level=settings.log_level)
    runtime = build_runtime(settings)
    if settings.engine == "temporal":  # runs start, cancel and resume as workflows
        from agentdeck.temporal.worker import attach as attach_temporal

        attach_temporal(runtime)

    stop = asyncio.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if model_host is not None:
            await model_host.open()
        worker = build_worker(runtime, embedded=True) if start_worker else None
        worker_task = asyncio.create_task(worker.run(stop)) if worker else None
        warm_task = asyncio.create_task(warm_local_model(settings)) if start_worker else None
        relay = None if start_worker else _relay(runtime, RunSettings().pubsub)
        relay_task = asyncio.create_task(relay.run()) if relay else None
        try:
            async with mcp_server.run():  # a mounted app's own lifespan never runs
                yield
        finally:
            stop.set()
            if warm_task is not None:
                warm_task.cancel()
            if worker_task is not None:
                await worker_task
            if model_host is not None:
                await model_host.close()
            if relay_task is not None:
                relay_task.cancel()
                await asyncio.gather(relay_task, return_exceptions=True)
            await close_gateway(runtime)  # its queued usage rows are written
            if runtime.http_client is not None:
                await runtime.http_client.aclose()
            await runtime.engine.dispose()

    app = FastAPI(
        title="agentdeck",
        version=__version__,
        description="Build, run and govern AI agents. All errors are RFC 9457 problem+json.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.drain = functools.partial(_drain, runtime, stop)
    app.openapi = lambda: _problem_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    upload_limit = KnowledgeSettings().max_upload_bytes + _MULTIPART_SLACK
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.api.max_body_bytes,
        trust_forwarded_for=settings.api.trust_forwarded_for,
        trusted_proxies=settings.api.trusted_proxies,
        body_limits=[(_UPLOADS, max(upload_limit, settings.api.max_body_bytes))],
    )
    for router in ROOT_ROUTERS:  # first: /v1 is the proxy's hot path, matched in order
        app.include_router(router)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    mount_console(app)  # the router's fallback: every API route comes first
    mcp_server = mount_mcp(app, runtime)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "Not ready"}})
    async def readyz() -> JSONResponse:
        """The database answers and is migrated to the newest revision."""
        try:
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current = await is_current(runtime.engine)
        except Exception:
            return problem_response(None, 503, "not-ready", "Not ready", "database unreachable")
        if not current:
            return problem_response(
                None,
                503,
                "not-ready",
                "Not ready",
                "database migrations are not current; run `agentdeck migrate`",
            )
        return JSONResponse({"status": "ready"})

    return app
