"""Server-Sent Events: one event's framing, keep-alives, and the `Last-Event-ID` to resume.

Two forms of the same event, for the two ways a response streams:

* :func:`frame` is the text itself (``event:``, ``data:``, ``id:`` lines, LF-separated, a
  blank line after), for a plain streaming response (the LangGraph-shaped thread streams);
* :func:`message` is the dict that sse-starlette's ``EventSourceResponse`` frames (``id``,
  ``event`` and ``data`` lines, CRLF), which also sends a keep-alive comment every
  :data:`PING_S` seconds.

``data`` is JSON on one line (``json.dumps`` escapes newlines); a value JSON cannot encode
is sent as its ``str``. :func:`message_json` takes data already encoded (a Pydantic model's
``model_dump_json``).
"""

from __future__ import annotations

import json
from typing import Any

from agentdeck.errors import InvalidInput

PING_S = 15
"""Seconds between keep-alive comments on an idle stream (proxies close silent ones)."""


def encode(data: Any) -> str:
    """``data`` as one line of JSON (non-JSON values as their ``str``)."""
    return json.dumps(data, default=str)


def frame(event: str, data: Any, id: int | str | None = None) -> str:
    """One SSE event as text: ``event:``, ``data:`` (JSON) and, given an id, ``id:``."""
    text = f"event: {event}\ndata: {encode(data)}\n"
    if id is not None:
        text += f"id: {id}\n"
    return text + "\n"


def comment(text: str = "") -> str:
    """An SSE comment line (clients ignore it): a keep-alive for a plain streaming response."""
    return f": {text}\n\n"


def message(event: str, data: Any, *, id: int | str | None = None) -> dict[str, str]:
    """One SSE event for ``EventSourceResponse``, ``data`` JSON-encoded."""
    return message_json(event, encode(data), id=id)


def message_json(event: str, data_json: str, *, id: int | str | None = None) -> dict[str, str]:
    """One SSE event for ``EventSourceResponse`` whose data is JSON text already."""
    out = {"event": event, "data": data_json}
    if id is not None:
        out["id"] = str(id)
    return out


def last_event_id(value: str | None, *, maximum: int) -> int:
    """The sequence number a ``Last-Event-ID`` header resumes after: 0 when absent or not a
    number (SSE clients may send anything).

    Raises :class:`InvalidInput` (field ``Last-Event-ID``, a 422 problem) above ``maximum``.
    """
    if not value or not (value.isascii() and value.isdigit()):  # not '²' (int() fails)
        return 0
    seq = int(value)
    if seq > maximum:
        raise InvalidInput(f"Last-Event-ID must be at most {maximum}", field="Last-Event-ID")
    return seq
