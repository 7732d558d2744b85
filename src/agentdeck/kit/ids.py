"""Time-sortable identifiers (UUIDv7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """Return a new UUIDv7: 48-bit unix milliseconds, then a 12-bit counter and random bits.

    Ids made in the same millisecond by one process still sort in creation order,
    because the 12-bit ``rand_a`` field holds a monotonic counter.
    """
    global _last_ms, _counter  # noqa: PLW0603 - process-wide monotonic state
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    made = _new(uuid.UUID)  # what UUID(int=value) does, without re-checking the range
    _set(made, "int", value)
    _set(made, "is_safe", uuid.SafeUUID.unknown)
    return made


_new = object.__new__
_set = object.__setattr__


def parse_uuid(value: str) -> uuid.UUID | None:
    """Parse an id, returning ``None`` when it is not a UUID."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
