from __future__ import annotations

import base64
import json

import pytest

from agentdeck.kit.ids import uuid7
from agentdeck.kit.pagination import InvalidCursor, decode_cursor, encode_cursor


def test_cursor_round_trip() -> None:
    value = uuid7()
    cursor = encode_cursor(value)
    assert "=" not in cursor
    assert decode_cursor(cursor) == value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "%%%",
        _b64(b"not json"),
        _b64(json.dumps({"before": "x"}).encode()),
        _b64(json.dumps({"after": "not-a-uuid"}).encode()),
        _b64(json.dumps(["after"]).encode()),
        _b64(json.dumps({"after": None}).encode()),
        _b64(b"\xff\xfe"),
    ],
)
def test_malformed_cursors_raise_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
