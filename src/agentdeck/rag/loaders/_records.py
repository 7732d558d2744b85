"""CSV and JSON: one section per record, ``key: value`` lines, offsets of the record's source."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from agentdeck.rag.errors import LoadError
from agentdeck.rag.loaders._guards import LoadLimits
from agentdeck.rag.types import Section

_decoder = json.JSONDecoder()


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for line in io.StringIO(text, newline=""):
        offsets.append(offsets[-1] + len(line))
    return offsets


def load_csv(text: str, limits: LoadLimits) -> list[Section]:
    """Each data row becomes ``column: value`` lines; the header row names the columns."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], ",;\t|")
    except csv.Error:
        dialect = csv.excel
    lines = _line_offsets(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    sections: list[Section] = []
    try:
        header = [h.strip() for h in next(reader, [])]
        previous = reader.line_num
        for row in reader:
            start, end = lines[previous], lines[min(reader.line_num, len(lines) - 1)]
            previous = reader.line_num
            pairs = [
                f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: {v.strip()}"
                for i, v in enumerate(row)
                if v.strip()
            ]
            if pairs:
                sections.append(Section("\n".join(pairs), [], None, start, end))
            if len(sections) > limits.max_records:
                raise LoadError("too_large", f"More than {limits.max_records:,} rows.")
    except csv.Error as exc:
        raise LoadError("corrupt", f"The CSV cannot be parsed: {exc}.") from exc
    return sections


def _flatten(value: object, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    elif isinstance(value, list):
        yield f"{prefix}: {', '.join(str(v) for v in value)}"
    elif value is not None and str(value).strip():
        yield f"{prefix}: {value}" if prefix else str(value)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _array_items(text: str, i: int) -> Iterator[tuple[object, int, int]]:
    """(value, start, end) of each element of the JSON array whose ``[`` is at `i`."""
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while i < len(text):
        value, end = _decoder.raw_decode(text, i)
        yield value, i, end
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
        else:
            return


def _object_items(text: str, i: int) -> Iterator[tuple[str, object, int, int]]:
    """(key, value, value start, value end) of each member of the object at `i`."""
    i = _skip_ws(text, i + 1)
    while i < len(text) and text[i] == '"':
        key, i = _decoder.raw_decode(text, i)
        i = _skip_ws(text, _skip_ws(text, i) + 1)  # past ':'
        value, end = _decoder.raw_decode(text, i)
        yield str(key), value, i, end
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)


def _record(value: object, path: list[str], start: int, end: int) -> Section | None:
    body = "\n".join(_flatten(value))
    return Section(body, path, None, start, end) if body.strip() else None


def load_json(text: str, limits: LoadLimits) -> list[Section]:
    """Records of a JSON document (or JSON Lines).

    A top-level array gives one section per element; an object gives one per member, and a
    member holding an array of objects gives one per element with the key as heading.
    """
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return _load_json_lines(text, limits)
    start = _skip_ws(text, 0)
    found: list[Section | None] = []
    if text[start] == "[":
        found = [_record(v, [], s, e) for v, s, e in _array_items(text, start)]
    elif text[start] == "{":
        for key, value, s, e in _object_items(text, start):
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                found.extend(_record(v, [key], vs, ve) for v, vs, ve in _array_items(text, s))
            else:
                found.append(_record({key: value}, [], s, e))
    else:
        found = [_record(json.loads(text), [], start, len(text.rstrip()))]
    sections = [s for s in found if s is not None]
    if len(sections) > limits.max_records:
        raise LoadError("too_large", f"More than {limits.max_records:,} records.")
    return sections


def _load_json_lines(text: str, limits: LoadLimits) -> list[Section]:
    sections: list[Section] = []
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LoadError("corrupt", f"Invalid JSON at line {number}: {exc.msg}.") from exc
            section = _record(value, [], offset, offset + len(line.rstrip()))
            if section is not None:
                sections.append(section)
        offset += len(line)
        if len(sections) > limits.max_records:
            raise LoadError("too_large", f"More than {limits.max_records:,} records.")
    return sections
