"""The agentdeck command line: serve, migrate, admin, version."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from agentdeck import __version__
from agentdeck.config import ConfigError, Settings, get_settings
from agentdeck.kit import aio

if TYPE_CHECKING:
    from agentdeck.auth.principal import Principal
    from agentdeck.modelhost.host import ModelHost
    from agentdeck.runtime import Runtime

app = typer.Typer(help="agentdeck: build, run and govern AI agents.", no_args_is_help=True)
admin = typer.Typer(help="Administrative tasks.", no_args_is_help=True)
app.add_typer(admin, name="admin")
console = Console(stderr=True)


def _settings() -> Settings:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _migrate(settings: Settings) -> None:
    from agentdeck.migrations import upgrade_to_head

    upgrade_to_head(settings.resolved_db_url)


@app.command()
def version() -> None:
    """Print the agentdeck version."""
    typer.echo(__version__)


@app.command()
def migrate() -> None:
    """Apply all pending database migrations."""
    settings = _settings()
    _migrate(settings)
    console.print("[green]database is migrated to the newest revision[/green]")


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default: settings.server.host)."),
    port: int = typer.Option(None, help="Port (default: settings.server.port)."),
    no_worker: bool = typer.Option(False, "--no-worker", help="Run the API only."),
) -> None:
    """Run the API (and, unless --no-worker, an in-process worker).

    The embedded SQLite database is migrated first.
    """
    settings = _settings()
    model_host = _model_host(settings, warm=not no_worker)  # first: it loads while we start
    from agentdeck.app import create_app
    from agentdeck.kit.db import is_sqlite
    from agentdeck.run.settings import WorkerSettings
    from agentdeck.server import serve as serve_app

    try:
        if is_sqlite(settings.resolved_db_url):
            _migrate(settings)
        application = create_app(settings, start_worker=not no_worker, model_host=model_host)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    _freeze_start_up_heap()
    serve_app(
        application,
        host=host or settings.server.host,
        port=port or settings.server.port,
        grace_s=WorkerSettings().grace_s,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default; here only when the
        # operator trusts forwarded headers, and then only from their trusted proxies.
        proxy_headers=settings.api.trust_forwarded_for,
        forwarded_allow_ips=settings.api.trusted_proxies,
    )


@app.command()
def worker() -> None:
    """Run a worker on its own (scaled mode). SIGTERM stops it gracefully."""
    import signal

    from agentdeck.app import build_runtime, build_worker, warm_local_model
    from agentdeck.gateway.service import close_gateway
    from agentdeck.logging import configure_logging

    settings = _settings()
    configure_logging(json_logs=settings.is_production, level=settings.log_level)
    host = _model_host(settings, warm=True)

    async def _run() -> None:
        if host is not None:
            await host.open()
        runtime = build_runtime(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        _freeze_start_up_heap()
        warm = asyncio.create_task(warm_local_model(settings))
        try:
            await build_worker(runtime).run(stop)
        finally:
            warm.cancel()
            if host is not None:
                await host.close()
            await close_gateway(runtime)  # its queued usage rows are written
            await runtime.engine.dispose()

    aio.run(_run())


LOCAL_EMAIL = "local@agentdeck.localhost"


@app.command("run")
def run_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Agent YAML or JSON."),
    inputs: list[str] = typer.Option([], "--input", "-i", help="An input as key=value."),
) -> None:
    """Run an agent definition in-process (embedded SQLite unless a database is configured).

    Exit code: 0 completed, 1 failed or cancelled, 2 invalid definition or input,
    3 interrupted (waiting for a human answer).
    """
    from agentdeck.app import build_runtime, build_worker
    from agentdeck.kit.db import is_sqlite
    from agentdeck.run import local_run

    settings = _settings()
    if is_sqlite(settings.resolved_db_url):
        _migrate(settings)
    text = file.read_text()

    async def _run() -> int:
        runtime = build_runtime(settings)
        try:
            return await local_run.main(
                runtime, _local_principal, build_worker, text, file.name, inputs,
                console,
            )  # fmt: skip
        finally:
            if runtime.http_client is not None:
                await runtime.http_client.aclose()
            await runtime.engine.dispose()

    raise typer.Exit(aio.run(_run()))


async def _local_principal(runtime: Runtime) -> Principal:
    """The CLI's own account (created on first use, password random and never shown)."""
    import secrets

    from agentdeck.auth.principal import Principal, scope_for_user
    from agentdeck.auth.repository import AuthRepository
    from agentdeck.auth.service import AuthService
    from agentdeck.kit.db import transaction

    async with transaction(runtime.sessionmaker) as session:
        repo = AuthRepository(session)
        user = await repo.user_by_email(LOCAL_EMAIL)
        if user is None:
            result = await AuthService(session, runtime).signup(
                email=LOCAL_EMAIL, password=secrets.token_urlsafe(32), name="Local CLI",
                org_name="Local", invite_token=None,
            )  # fmt: skip
            user_id, org_id = result.user.id, result.org.id
            await session.flush()
        else:
            memberships = await repo.memberships_of(user.id)
            user_id, org_id = user.id, memberships[0][0].org_id
        scope = await scope_for_user(repo, org_id, user_id)
    return Principal(kind="user", user_id=user_id, scope=scope)


@admin.command("create-user")
def create_user(
    email: str = typer.Option(..., help="E-mail address (the login)."),
    name: str = typer.Option(..., help="Display name."),
    org_name: str = typer.Option(None, help="Name of the user's new organisation."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="Password."
    ),
) -> None:
    """Create a user with their own organisation and personal space."""
    from agentdeck.app import build_runtime
    from agentdeck.auth.service import AuthService
    from agentdeck.errors import AppError
    from agentdeck.kit.db import transaction

    settings = _settings()

    async def _run() -> str:
        runtime = build_runtime(settings)
        try:
            async with transaction(runtime.sessionmaker) as session:
                result = await AuthService(session, runtime).signup(
                    email=email,
                    password=password,
                    name=name,
                    org_name=org_name,
                    invite_token=None,
                )
            return (
                f"created {result.user.email} in organisation {result.org.name} ({result.org.id})"
            )
        finally:
            await runtime.engine.dispose()

    try:
        console.print(asyncio.run(_run()))
    except AppError as exc:
        console.print(f"[red]{exc.title}:[/red] {exc.detail}")
        raise typer.Exit(1) from exc


@admin.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored credential under the current master key.

    Set the new key as AGENTDECK_SECURITY__MASTER_KEY and the previous one(s) in
    AGENTDECK_SECURITY__OLD_MASTER_KEYS (a JSON list), run this, then drop the old keys.
    """
    from agentdeck.app import build_runtime
    from agentdeck.credential import service as credentials
    from agentdeck.kit.db import transaction
    from agentdeck.provider import service as providers

    settings = _settings()

    async def _run() -> int:
        runtime = build_runtime(settings)
        try:
            # One transaction: every secret moves to the new key, or none does.
            async with transaction(runtime.sessionmaker) as session:
                changed = await providers.rotate_master_key(session, runtime.cipher)
                return changed + await credentials.rotate_master_key(session, runtime.cipher)
        finally:
            await runtime.engine.dispose()

    changed = asyncio.run(_run())
    console.print(f"re-encrypted {changed} credential(s) under key {_key_id(settings)}")


def _key_id(settings: Settings) -> str:
    from agentdeck.config import resolve_secrets
    from agentdeck.kit.crypto import key_id

    return key_id(resolve_secrets(settings)[1])


def _model_host(settings: Settings, *, warm: bool) -> ModelHost | None:
    """The offline models' own process (None with ``AGENTDECK_MODELS__HOST=inline``). It
    starts first when it has the chat model to preload, so the model loads while the server
    starts (the first answer after /healthz finds it loaded)."""
    if settings.models.host != "process":
        return None
    from agentdeck.modelhost.host import ModelHost
    from agentdeck.modelhost.smollm2 import installed

    warm_chat = warm and settings.llm.warm_local_model and installed()
    host = ModelHost.from_settings(settings, warm_chat=warm_chat)
    host.start()
    return host


def _freeze_start_up_heap() -> None:
    """Move everything imported at start-up out of the garbage collector's reach.

    A full collection otherwise walks the whole import heap and pauses every run in flight
    for a few hundred milliseconds (measured in benchmarks/engine.py).
    """
    import gc

    gc.collect()
    gc.freeze()


def main() -> None:
    """Console-script entry point."""
    app()
