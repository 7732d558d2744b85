"""WebSocket /api/v1/ws: follow runs and threads live, several at once on one connection.

Authentication is the HTTP API's: a JWT or an ``ad_`` API key (with the `read` scope) in
``?token=`` (browsers cannot set WebSocket headers), ``Authorization: Bearer`` or
``X-Api-Key``. A failed check sends an error message and closes with 4401 (or 4403).

The client sends JSON text messages::

    {"action": "subscribe", "run_id": "…", "after_seq": 0, "include_deltas": true}
    {"action": "subscribe", "thread_id": "…"}
    {"action": "unsubscribe", "run_id": "…"}        (or "thread_id")

and receives JSON messages: events ``{"run_id", "seq", "type", "data"}`` (``seq`` is null
for `message.delta`; thread subscriptions add ``thread_id``), and ``{"type": "subscribed"}``,
``{"type": "unsubscribed"}`` (asked for, or the run stopped) and ``{"type": "error",
"status", "detail"}``, each with the ``run_id`` or ``thread_id`` it is about. A run or thread
the caller cannot see (another org's) is a 404, like one that does not exist. A malformed
message is an error message; the connection stays open.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket
from fastapi.security import HTTPAuthorizationCredentials

from agentdeck.auth.principal import Principal, get_principal
from agentdeck.errors import AppError, Forbidden, InvalidInput, TooManyRequests
from agentdeck.kit.tenancy import KeyScope, key_scopes_grant
from agentdeck.run._follow import follow_run, follow_thread
from agentdeck.run.schemas import MAX_SEQ
from agentdeck.runtime import Runtime

log = structlog.get_logger(__name__)
router = APIRouter(tags=["runs"])

MAX_MESSAGE_BYTES = 4096
MAX_SUBSCRIPTIONS = 64
_OUTBOX = 1000
_Key = tuple[str, uuid.UUID]


async def authenticate(websocket: WebSocket, runtime: Runtime) -> Principal:
    """The caller, from ``?token=``, ``Authorization`` or ``X-Api-Key``.

    Raises Unauthorized (no or bad credentials), Forbidden (an API key without `read`).
    """
    token = websocket.query_params.get("token")
    header = websocket.headers.get("authorization", "")
    if not token and header[:7].lower() == "bearer ":
        token = header[7:].strip()
    bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token) if token else None
    async with runtime.sessionmaker() as session:
        principal = await get_principal(
            websocket, runtime, session, bearer, websocket.headers.get("x-api-key")
        )
        await session.commit()  # an API key's last-used time
    scopes = principal.scope.key_scopes
    if scopes is not None and not key_scopes_grant(scopes, KeyScope.READ):
        raise Forbidden("this API key lacks the 'read' scope")
    return principal


@router.websocket("/ws")
async def websocket_events(websocket: WebSocket) -> None:
    """Subscribe to runs and threads; see the module documentation for the messages."""
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    try:
        principal = await authenticate(websocket, runtime)
    except AppError as exc:
        await websocket.send_text(json.dumps(_error(exc)))
        await websocket.close(code=4401 if exc.status == 401 else 4403)
        return
    await _Connection(websocket, runtime, principal).serve()


def _error(exc: AppError, **about: str) -> dict[str, Any]:
    return {"type": "error", "status": exc.status, "detail": exc.detail, **about}


class _Connection:
    def __init__(self, websocket: WebSocket, runtime: Runtime, principal: Principal) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.principal = principal
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_OUTBOX)
        self.subscriptions: dict[_Key, asyncio.Task[None]] = {}

    async def serve(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                try:
                    self._handle(text)
                except AppError as exc:
                    await self.outbox.put(_error(exc))
        finally:
            tasks = [*self.subscriptions.values(), writer]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(self) -> None:
        while True:
            message = await self.outbox.get()
            await self.websocket.send_text(json.dumps(message, default=str))

    def _handle(self, text: str) -> None:
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            raise InvalidInput(f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
        try:
            message = json.loads(text)
        except ValueError as exc:
            raise InvalidInput("the message is not valid JSON") from exc
        if not isinstance(message, dict):
            raise InvalidInput("the message must be a JSON object")
        action = message.get("action")
        if action not in ("subscribe", "unsubscribe"):
            raise InvalidInput("action must be 'subscribe' or 'unsubscribe'", field="action")
        key = _key_of(message)
        if action == "unsubscribe":
            task = self.subscriptions.pop(key, None)
            if task is not None:
                task.cancel()
            self.outbox.put_nowait({"type": "unsubscribed", f"{key[0]}_id": str(key[1])})
            return
        after_seq = message.get("after_seq", 0)
        if (
            not isinstance(after_seq, int)
            or isinstance(after_seq, bool)
            or not 0 <= after_seq <= MAX_SEQ
        ):
            msg = f"after_seq must be an integer from 0 to {MAX_SEQ}"
            raise InvalidInput(msg, field="after_seq")
        include_deltas = message.get("include_deltas", True)
        if not isinstance(include_deltas, bool):
            raise InvalidInput("include_deltas must be true or false", field="include_deltas")
        previous = self.subscriptions.pop(key, None)
        if previous is not None:  # subscribing again restarts from the new after_seq
            previous.cancel()
        elif len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise TooManyRequests(
                f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection", retry_after=1
            )
        task = asyncio.create_task(self._follow(key, after_seq, include_deltas))
        self.subscriptions[key] = task

    async def _follow(self, key: _Key, after_seq: int, include_deltas: bool) -> None:
        kind, ident = key
        about = {f"{kind}_id": str(ident)}
        try:
            if kind == "run":
                await follow_run(
                    self.runtime, self.principal, ident, self.outbox.put,
                    after_seq=after_seq, include_deltas=include_deltas,
                )  # fmt: skip
            else:
                await follow_thread(
                    self.runtime, self.principal, ident, self.outbox.put,
                    include_deltas=include_deltas,
                )  # fmt: skip
        except AppError as exc:
            await self.outbox.put(_error(exc, **about))
        except Exception:
            log.exception("run.ws_follow_failed", kind=kind, id=str(ident))
            await self.outbox.put(
                {"type": "error", "status": 500, "detail": "internal error", **about}
            )
        finally:
            if self.subscriptions.get(key) is asyncio.current_task():
                del self.subscriptions[key]


def _key_of(message: dict[str, Any]) -> _Key:
    present = [k for k in ("run_id", "thread_id") if message.get(k) is not None]
    if len(present) != 1:
        raise InvalidInput("give exactly one of run_id and thread_id")
    field = present[0]
    try:
        return field.removesuffix("_id"), uuid.UUID(str(message[field]))
    except ValueError as exc:
        raise InvalidInput(f"{field} must be a UUID", field=field) from exc
