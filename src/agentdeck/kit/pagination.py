"""Opaque cursors for keyset pagination over time-sortable ids."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(ValueError):
    """The cursor is not one this API produced."""


class Page(BaseModel, Generic[T]):
    """A page of results and the cursor of the next one (``None`` at the end)."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: uuid.UUID) -> str:
    """Encode the id of the last item on a page as an opaque cursor."""
    raw = json.dumps({"after": str(last_id)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    """Decode a cursor. Raises :class:`InvalidCursor` when it is malformed."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return uuid.UUID(str(data["after"]))
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidCursor("cursor is malformed") from exc
