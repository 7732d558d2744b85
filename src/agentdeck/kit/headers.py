"""Values that travel in HTTP headers: checked when they are stored, not when they are sent.

HTTP clients encode header values as ASCII and refuse line breaks, so a non-ASCII API key
stored as is would fail every later request with an encoding error. `HeaderValue` refuses
it at the boundary (a 422 naming the field); `header_problem` is the same check for values
that only exist at run time (templated headers of an `http` node).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_VALUE = re.compile(r"[\t\x20-\x7e]*")
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a header value (None when it can): only printable
    ASCII, spaces and tabs travel safely."""
    if _VALUE.fullmatch(value):
        return None
    bad = next(c for c in value if not _VALUE.fullmatch(c))
    if bad in "\r\n":
        return "must not contain line breaks"
    return f"must contain only printable ASCII characters (found {bad!r})"


def header_problem(name: str, value: str) -> str | None:
    """Why the header ``name: value`` cannot be sent (None when it can)."""
    if not _NAME.fullmatch(name):
        return f"header name {name!r} is not a valid HTTP token"
    problem = value_problem(value)
    return None if problem is None else f"header {name!r} {problem}"


def _check_value(value: str) -> str:
    problem = value_problem(value)
    if problem is not None:
        raise ValueError(f"the value travels in an HTTP header and {problem}")
    return value


HEADER_SAFE = AfterValidator(_check_value)
"""The check as pydantic metadata, to put after length limits so that their messages stay
those of a string: ``Annotated[str, Field(max_length=...), HEADER_SAFE]``."""

HeaderValue = Annotated[str, HEADER_SAFE]
"""A string that will be sent in an HTTP header (API keys, secrets, custom headers)."""
