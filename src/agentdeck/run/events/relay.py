"""The relay: a process's bus items travel to the buses of the other processes.

When API and worker processes are scaled apart, a worker's `message.delta` tokens (and its
durable events, status changes, and the API's cancel signals) must reach the other side live.
The relay publishes every locally published item on the run's channel and LISTENs/SUBSCRIBEs
to a run's channel while this process has a subscriber for it. Transport: Redis pub/sub when
`settings.llm.redis_url` is set, else PostgreSQL NOTIFY; SQLite (or ``pubsub="off"``) has no
relay: the bus's `watcher` re-reads the journal for the runs it follows instead.

Messages are JSON ``{"o": origin, "r": run_id, "t": type, "s": seq, "d": data}``. A process
drops its own messages (it delivered them in memory already). PostgreSQL payloads are limited
to 8000 bytes: a long delta is split into several; any other oversized durable event goes as a
pointer (`REPLAY`) that makes streams re-read the journal, where the event is stored. A
channel subscribed again after a reconnect gets a `REPLAY` and a `STATUS_CHANGED` too: what
was sent while the connection was down is read from the journal.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Literal

import structlog

from agentdeck.run.events.bus import REPLAY, STATUS_CHANGED, StreamItem
from agentdeck.run.events.channels import Channels, OnMessage
from agentdeck.run.events.postgres import PgChannels, asyncpg_dsn

log = structlog.get_logger(__name__)

PubSubMode = Literal["auto", "off", "postgres", "redis"]
_DELTA = "message.delta"


class Relay:
    """Carries broker items between processes over one `Channels` transport."""

    def __init__(self, make_channels: Callable[[OnMessage], Channels], prefix: str) -> None:
        self.channels = make_channels(self._on_message)
        self.channels.on_resumed = self._on_resumed
        self.prefix = prefix
        self.origin = uuid.uuid4().hex[:12]
        self._follows: Counter[str] = Counter()
        self._keys: dict[str, str] = {}
        self._deliver: Callable[[StreamItem], None] | None = None

    def bind(self, deliver: Callable[[StreamItem], None]) -> None:
        """Where received items go (the broker's in-process fan-out)."""
        self._deliver = deliver

    def channel(self, run_id: str) -> str:
        try:
            key = uuid.UUID(run_id).hex
        except ValueError:  # not a run id of ours; still a valid, bounded channel name
            key = hashlib.sha256(run_id.encode()).hexdigest()[:32]
        return self.prefix + key

    def follow(self, run_id: str) -> None:
        """Receive ``run_id``'s items from other processes (counted: one per subscriber)."""
        self._follows[run_id] += 1
        if self._follows[run_id] == 1:
            channel = self.channel(run_id)
            self._keys[channel] = run_id
            self.channels.listen(channel)

    def unfollow(self, run_id: str) -> None:
        if self._follows[run_id] <= 1:
            self._follows.pop(run_id, None)
            channel = self.channel(run_id)
            self._keys.pop(channel, None)
            self.channels.unlisten(channel)
        else:
            self._follows[run_id] -= 1

    def live(self, run_id: str) -> bool:
        """True when ``run_id``'s channel is subscribed right now."""
        return self.channels.is_listening(self.channel(run_id))

    async def ready(self, run_id: str, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until ``run_id``'s channel is subscribed."""
        return await self.channels.listening(self.channel(run_id), timeout_s)

    def send(self, item: StreamItem) -> None:
        """Publish a locally published item to the other processes (best effort)."""
        channel = self.channel(item.run_id)
        for payload in encode(item, self.origin, self.channels.limit):
            self.channels.send(channel, payload)

    async def started(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) for the first connection: items sent before it are
        dropped, so a worker starts claiming runs only after this."""
        return await self.channels.wait_connected(timeout_s)

    async def run(self) -> None:
        """Keep the transport connected until cancelled."""
        await self.channels.run()

    def _on_resumed(self, channel: str) -> None:
        run_id = self._keys.get(channel)
        if run_id is not None and self._deliver is not None:
            self._deliver(StreamItem(run_id, REPLAY, {}))
            self._deliver(StreamItem(run_id, STATUS_CHANGED, {}))

    def _on_message(self, _channel: str, payload: str) -> None:
        item = decode(payload, self.origin)
        if item is not None and self._deliver is not None:
            self._deliver(item)


def encode(item: StreamItem, origin: str, limit: int | None) -> Iterator[str]:
    """The item as one or more payloads of at most ``limit`` bytes."""
    head: dict[str, Any] = {"o": origin, "r": item.run_id, "t": item.type, "s": item.seq}
    payload = _dump({**head, "d": item.data})
    if limit is None or len(payload.encode()) <= limit:
        yield payload
        return
    delta = item.data.get("delta")
    if item.type == _DELTA and item.seq is None and isinstance(delta, str):
        rest = {k: v for k, v in item.data.items() if k != "delta"}
        room = (limit - len(_dump({**head, "d": rest}).encode()) - 32) // 6  # worst-case escapes
        if room > 0:
            for start in range(0, len(delta), room):
                yield _dump({**head, "d": {**rest, "delta": delta[start : start + room]}})
            return
    if item.seq is not None:
        yield _dump({"o": origin, "r": item.run_id, "t": REPLAY, "s": None, "d": {}})
        return
    log.debug("pubsub.item_too_large", run_id=item.run_id, type=item.type)


def decode(payload: str, own_origin: str) -> StreamItem | None:
    """The item in ``payload``; None for our own messages and anything malformed."""
    try:
        message = json.loads(payload)
        if message["o"] == own_origin:
            return None
        seq = message.get("s")
        data = message.get("d") or {}
        if not isinstance(data, dict) or not (seq is None or isinstance(seq, int)):
            return None
        return StreamItem(str(message["r"]), str(message["t"]), data, seq)
    except (ValueError, KeyError, TypeError):
        log.warning("pubsub.bad_message", size=len(payload))
        return None


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def relay_for(mode: PubSubMode, db_url: str, redis_url: str | None) -> Relay | None:
    """The relay the settings ask for; None for SQLite without Redis, or ``mode="off"``.
    Raises ValueError when the mode needs what the settings lack."""
    if mode == "off":
        return None
    if mode == "redis" or (mode == "auto" and redis_url):
        if not redis_url:
            raise ValueError("AGENTDECK_RUNS__PUBSUB=redis needs AGENTDECK_LLM__REDIS_URL")
        from agentdeck.run.events.redis import RedisChannels

        url = redis_url
        return Relay(lambda on_message: RedisChannels(url, on_message), "agentdeck:run:")
    if db_url.startswith("postgresql"):
        dsn = asyncpg_dsn(db_url)
        return Relay(lambda on_message: PgChannels(dsn, on_message), "agentdeck_run_")
    if mode == "postgres":
        raise ValueError("AGENTDECK_RUNS__PUBSUB=postgres needs a PostgreSQL database")
    return None
