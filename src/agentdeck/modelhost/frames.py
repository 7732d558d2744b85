"""The model host's wire format: length-prefixed frames over a local stream socket.

A frame is an 8-byte prefix (the JSON header's length and the binary payload's length, two
big-endian unsigned 32-bit integers), the header (a JSON object) and the payload (raw bytes,
e.g. float32 vectors; usually empty). Requests carry ``id`` and ``op``; every answer frame
carries the request's ``id`` and an ``event``: ``delta``/``vectors``/... then ``end``, or
``error`` instead.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

_PREFIX = struct.Struct(">II")
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_PAYLOAD_BYTES = 512 * 1024 * 1024

Header = dict[str, Any]


class FrameError(ConnectionError):
    """The other side sent something that is not a frame (too large, not a JSON object)."""


def encode(header: Header, payload: bytes = b"") -> bytes:
    """One frame, ready to write in one piece."""
    body = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return _PREFIX.pack(len(body), len(payload)) + body + payload


async def read(reader: asyncio.StreamReader) -> tuple[Header, bytes]:
    """The next frame. Raises `asyncio.IncompleteReadError` at the end of the stream and
    `FrameError` for a malformed frame."""
    size, payload_size = _PREFIX.unpack(await reader.readexactly(_PREFIX.size))
    if size > MAX_HEADER_BYTES or payload_size > MAX_PAYLOAD_BYTES:
        raise FrameError(f"frame too large: {size} + {payload_size} bytes")
    header = json.loads(await reader.readexactly(size))
    if not isinstance(header, dict):
        raise FrameError("a frame's header must be a JSON object")
    payload = await reader.readexactly(payload_size) if payload_size else b""
    return header, payload
