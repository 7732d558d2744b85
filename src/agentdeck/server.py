"""Serving the ASGI app with uvicorn, draining it first when the process is told to stop.

uvicorn's own shutdown closes the listening sockets and then waits, without a limit, for
every open connection to finish: an SSE stream, a WebSocket or a `wait` request that follows a
long run would hold the process for ever. Here a SIGTERM (or SIGINT) first calls the app's
``drain`` (the embedded worker stops claiming and checkpoints within its grace period, every
stream ends with a final event and every waiter answers 503), and uvicorn's wait is bounded:
the process exits within ``grace_s`` plus a few seconds whatever its clients do.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import uvicorn

Drain = Callable[[], Awaitable[None]]
_AFTER_GRACE_S = 3


class DrainingServer(uvicorn.Server):
    """A uvicorn server that calls ``drain`` before it waits for its connections."""

    def __init__(self, config: uvicorn.Config, drain: Drain | None) -> None:
        super().__init__(config)
        self._drain = drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # no new connections while the old ones are drained
            server.close()
        if self._drain is not None:
            await self._drain()
        await super().shutdown(sockets)


def serve(
    app: object,
    *,
    host: str,
    port: int,
    grace_s: float,
    proxy_headers: bool = False,
    forwarded_allow_ips: list[str] | None = None,
) -> None:
    """Run ``app`` until SIGTERM/SIGINT, then drain it (``app.state.drain``) and stop within
    ``grace_s`` plus a few seconds. Forwarded headers are honoured only with
    ``proxy_headers``, and then only from ``forwarded_allow_ips``."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips or [],
        timeout_graceful_shutdown=int(grace_s) + _AFTER_GRACE_S,
    )
    state = getattr(app, "state", None)
    DrainingServer(config, getattr(state, "drain", None)).run()
