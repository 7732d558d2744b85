"""An OpenAPI document given as YAML is read with the shared bounded loader: an alias bomb
or a document nested too deep is a config error naming `document` (issue 11 item 4)."""

from __future__ import annotations

import pytest

from agentdeck.tools.base import ToolsetConfigError
from agentdeck.tools.openapi import load_document

HEAD = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n"


def test_a_yaml_alias_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    with pytest.raises(ToolsetConfigError) as exc:
        load_document(HEAD + "x-bomb:\n" + "".join(f"  {line}\n" for line in lines))
    assert exc.value.field == "document" and "expands to more than" in exc.value.message


def test_deep_json_or_yaml_is_refused() -> None:
    for text in ('{"openapi": "3.0.0", "paths": {}, "x": ' + "[" * 10_000 + "]" * 10_000 + "}",
                 HEAD + "x: " + "[" * 10_000 + "]" * 10_000 + "\n"):  # fmt: skip
        with pytest.raises(ToolsetConfigError) as exc:
            load_document(text)
        assert exc.value.field == "document" and "nested deeper" in exc.value.message


def test_yaml_with_small_aliases_still_loads() -> None:
    doc = load_document(HEAD + "x-a: &a {k: 1}\nx-b: *a\n")
    assert doc["x-b"] == {"k": 1}
