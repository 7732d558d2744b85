"""Redis pub/sub as a `Channels` transport (`redis.asyncio`, an optional dependency).

One pub/sub connection receives; publishing goes through a separate client connection
(a subscribed Redis connection accepts no other commands). A SUBSCRIBE counts as effective
when its confirmation arrives, so `listening()` means what it says.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from agentdeck.run.events.channels import Channels, OnMessage, raise_if_cancelled

_CONFIRM_S = 5.0


class RedisChannels(Channels):
    name = "redis"
    limit = None

    def __init__(self, url: str, on_message: OnMessage) -> None:
        super().__init__(on_message)
        self._url = url
        self._client: Any = None
        self._pubsub: Any = None
        self._confirm: dict[str, asyncio.Future[None]] = {}

    async def _connect(self) -> None:
        import redis.asyncio as redis_asyncio

        client = redis_asyncio.Redis.from_url(
            self._url, socket_connect_timeout=5, health_check_interval=15
        )
        try:
            await client.ping()
            pubsub = client.pubsub()
            await pubsub.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await client.aclose()
            raise
        self._client, self._pubsub = client, pubsub

    async def _listen(self, channel: str) -> None:
        confirm = self._confirm[channel] = asyncio.get_running_loop().create_future()
        try:
            await self._pubsub.subscribe(channel)
            async with asyncio.timeout(_CONFIRM_S):
                await confirm
        finally:
            self._confirm.pop(channel, None)

    async def _unlisten(self, channel: str) -> None:
        await self._pubsub.unsubscribe(channel)

    async def _publish(self, channel: str, payload: str) -> None:
        await self._client.publish(channel, payload)

    async def _pump(self) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            raise_if_cancelled()
            if message is None:
                continue
            channel = _text(message.get("channel"))
            if message.get("type") == "subscribe":
                confirm = self._confirm.get(channel)
                if confirm is not None and not confirm.done():
                    confirm.set_result(None)
            elif message.get("type") == "message":
                self._deliver(channel, _text(message.get("data")))

    async def _close(self) -> None:
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if client is not None:
            await client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
