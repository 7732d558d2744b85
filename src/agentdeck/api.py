"""Shared API plumbing: the runtime on app.state (`agentdeck.runtime`), the request session,
routers that commit.

Services never commit. A router made by :func:`new_router` commits the request's session
after the handler returns and before the response is sent, so a client never sees success
for work that was not stored; any error rolls it back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.errors import InvalidInput
from agentdeck.kit import nesting
from agentdeck.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The request's session. :class:`TransactionalRoute` commits it."""
    async with runtime.sessionmaker() as session:
        request.state.db_session = session
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


MAX_BODY_DEPTH = 128
"""Most levels a JSON body nests (the body is level 1); above it, 422 naming the field."""


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def check_json_depth(request: Request) -> None:
    """Refuse a JSON body nested deeper than MAX_BODY_DEPTH, naming the field.

    Code after the parse (validators, the JSON encoder, serialisers) recurses per level,
    so depth must be refused here, where the body is parsed: the parsed value is cached on
    the request and FastAPI reuses it. A body too malformed to parse is left to FastAPI's
    own error. Raises :class:`InvalidInput`.
    """
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS") or not _is_json(request):
        return
    path: list[nesting.PathPart] | None
    try:
        data = await request.json()
    except RecursionError:  # deeper than the parser's own stack
        text = (await request.body()).decode("utf-8", "replace")
        path = nesting.too_deep_in_text(text, MAX_BODY_DEPTH) or []
    except ValueError:
        return
    else:
        path = nesting.too_deep(data, MAX_BODY_DEPTH)
        if path is None:
            return
    field = nesting.field_name(path)
    raise InvalidInput(f"{field}: nested deeper than {MAX_BODY_DEPTH} levels", field=field)


class TransactionalRoute(APIRoute):
    """Commit the request session when the handler succeeds, roll back when it raises.

    Also refuses JSON bodies nested too deep (see :func:`check_json_depth`) before the
    handler parses them.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            await check_json_depth(request)
            try:
                response = await handler(request)
            except BaseException:
                session: AsyncSession | None = getattr(request.state, "db_session", None)
                if session is not None:
                    await session.rollback()
                raise
            session = getattr(request.state, "db_session", None)
            if session is not None and response.status_code < 400:
                await session.commit()
            return response

        return run


def new_router(prefix: str = "", **kwargs: Any) -> APIRouter:
    """An APIRouter whose routes commit at the request boundary."""
    return APIRouter(prefix=prefix, route_class=TransactionalRoute, **kwargs)
