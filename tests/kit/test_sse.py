"""SSE framing and `Last-Event-ID`: the bytes clients parse, and the 422 for a bad id."""

from __future__ import annotations

import datetime as dt

import pytest

from agentdeck.errors import InvalidInput
from agentdeck.kit import sse


def test_frame_is_event_data_id_and_a_blank_line() -> None:
    assert sse.frame("updates", {"a": [1, "x"]}, 3) == (
        'event: updates\ndata: {"a": [1, "x"]}\nid: 3\n\n'
    )
    assert sse.frame("end", None) == "event: end\ndata: null\n\n"


def test_data_is_one_line_of_json_and_other_values_their_str() -> None:
    when = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert sse.frame("x", {"text": "a\nb", "at": when}) == (
        'event: x\ndata: {"text": "a\\nb", "at": "2026-01-02 00:00:00+00:00"}\n\n'
    )


def test_messages_for_event_source_response() -> None:
    assert sse.message("step.completed", {"node": "a"}, id=3) == {
        "event": "step.completed",
        "data": '{"node": "a"}',
        "id": "3",
    }
    assert sse.message("message.delta", {}, id=None) == {"event": "message.delta", "data": "{}"}
    assert sse.message_json("final", '{"a":1}') == {"event": "final", "data": '{"a":1}'}


def test_comment() -> None:
    assert sse.comment("keep-alive") == ": keep-alive\n\n"


@pytest.mark.parametrize(
    ("value", "seq"),
    [(None, 0), ("", 0), ("abc", 0), ("-1", 0), ("\u00b2", 0), ("\u0661", 0), ("7", 7)],
)  # superscript two and an Arabic-Indic one are digits to str.isdigit, not to int()
def test_last_event_id(value: str | None, seq: int) -> None:
    assert sse.last_event_id(value, maximum=10) == seq


def test_a_last_event_id_above_the_maximum_is_invalid_input() -> None:
    assert sse.last_event_id("10", maximum=10) == 10
    with pytest.raises(InvalidInput) as bad:
        sse.last_event_id("11", maximum=10)
    assert (bad.value.status, bad.value.field) == (422, "Last-Event-ID")
    assert bad.value.detail == "Last-Event-ID must be at most 10"
