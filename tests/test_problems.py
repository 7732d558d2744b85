"""Database errors a client can act on become problem+json, not 500."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from agentdeck.problems import install_error_handlers


def _app(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


async def _get(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/boom")


async def test_a_deadlock_is_a_retryable_503() -> None:
    orig = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
    resp = await _get(_app(DBAPIError("DELETE ...", {}, orig)))
    assert resp.status_code == 503
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["retry-after"] == "1"
    assert resp.json()["type"].endswith("/retry")


async def test_other_database_errors_stay_500() -> None:
    orig = asyncpg.exceptions.UndefinedTableError("relation does not exist")
    resp = await _get(_app(DBAPIError("SELECT ...", {}, orig)))
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
