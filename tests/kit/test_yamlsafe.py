"""kit.yamlsafe: the same data as PyYAML's safe loader, within bounds on expansion and depth.

Ordinary documents are built straight from libyaml's events; anything else goes through the
bounded composer and the safe constructor. Either way the data, and the errors of bad
documents, are the safe loader's.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from agentdeck.kit import yamlsafe

DOCUMENTS = [
    "",
    "# only a comment",
    "---\n",
    "a: 1",
    "- 1\n- 2",
    "a: yes\nb: No\nc: on\nd: ~\ne: null\nf: 0x1F\ng: 0o17\nh: 1_000\ni: 1:30\nj: .inf\n"
    "k: -.Inf\nm: 1e3\nn: 1.5e3\no: +12\np: 08\nq: '3'\nr: \"x\\ty\"\ns: ! 2",
    "when: 2001-12-14\nat: 2001-12-14t21:59:43.10-05:00",
    "1: a\n2.5: b\n~: c\ntrue: d\na: 1\na: 2",
    "a: &x [1, 2]\nb: *x\nc: &y {k: v}\nd: [*y, *y]\n&k e: 1\nf: *k",
    "a: !!str 1\nb: !!int '7'\nc: !!binary aGk=\nd: !!set {x, y}\ne: !!omap [a: 1]",
    "a: !!map {b: 1}\nc: !!seq [1]\nd: ! [1]",
    "base: &b {x: 1, y: 2}\nm: {<<: *b, y: 3}\nn: {<<: [{p: 1}, {q: 2}], r: 3}",
    "=: 1\nv: {=: 2}",
    "? &k a\n: 1\n*k : 2",
    "a:\n  - b: 1\n    c: [x, y]\n  - d\nlit: |\n  line\n  two\nfold: >\n  folded\n  text\n",
    "k: 123456789012345678901234567890",
]
BAD = [
    "a: [1, 2",
    "a: b: c",
    "\ta: 1",
    "--- a\n--- b",
    "a: *undefined",
    "a: &x 1\nb: &x 2",
    "? [1]\n: 2",
    "a: !foo bar",
    "a: =",
    "a: 2001-13-45",
]


def _error(load: Any, text: str) -> type[Exception] | None:
    try:
        load(text)
    except Exception as exc:
        return type(exc)
    return None


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_data_is_the_safe_loaders(text: str) -> None:
    assert repr(yamlsafe.load(text)) == repr(yaml.safe_load(text))


@pytest.mark.parametrize("text", BAD)
def test_bad_documents_fail_as_the_safe_loader_does(text: str) -> None:
    # The same error class (libyaml words syntax errors its own way).
    error = _error(yamlsafe.load, text)
    assert error is not None
    assert error is _error(yaml.safe_load, text)


def test_an_alias_is_the_same_object() -> None:
    data = yamlsafe.load("a: &x {k: [1]}\nb: *x")
    assert data["a"] is data["b"]


def _random_value(rnd: random.Random, depth: int = 0) -> Any:
    scalars = ["a", "yes", "1", "0x1f", "1.5", "~", "", " x", "2001-12-14", "é", "-", "#", 7, 2.5]
    if depth > 3 or rnd.random() < 0.4:
        return rnd.choice([*scalars, True, None])
    if rnd.random() < 0.5:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    return {rnd.choice(scalars): _random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}


def test_random_documents_in_every_style_load_as_the_safe_loader_loads_them() -> None:
    rnd = random.Random(7)
    for _ in range(300):
        value = _random_value(rnd)
        shared = {"shared": value, "again": [value, value]}  # dumped with anchors and aliases
        for flow in (None, True, False):
            text = yaml.safe_dump(shared, default_flow_style=flow, allow_unicode=True)
            assert repr(yamlsafe.load(text)) == repr(yaml.safe_load(text))


def _alias_bomb(levels: int) -> str:
    lines = ['x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]")
    return "\n".join(lines)


def test_an_alias_bomb_is_refused_where_it_passes_the_budget() -> None:
    with pytest.raises(yamlsafe.YamlLimitError) as info:
        yamlsafe.load(_alias_bomb(9), max_nodes=100_000)
    assert "expands to more than 100000 values" in info.value.message
    assert info.value.path[0] == "x4"  # x4 stands for some 111,000 values
    assert yamlsafe.load(_alias_bomb(3), max_nodes=100_000)["x3"][9][9][9][9] == "lol"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000, ["a"]),  # past libyaml's own limit too
        ("a: " + "[" * 150 + "]" * 150, ["a"]),
        ("a:\n  " + "- " * 10_000 + "x", ["a"]),
        ("[" * 500_000, []),
        ("a: !!str x\nb: " + "{x: " * 5_000, ["b"]),  # the composer's path
    ],
)
def test_deep_nesting_is_refused_naming_where(text: str, path: list[Any]) -> None:
    with pytest.raises(yamlsafe.YamlLimitError) as info:
        yamlsafe.load(text, max_depth=100)
    assert info.value.message == "nested deeper than 100 levels"
    assert info.value.path[: len(path)] == path


def test_nesting_up_to_the_limit_loads() -> None:
    # The mapping, 98 lists and the scalar: 100 levels (scalars count here).
    assert yamlsafe.load("a: " + "[" * 98 + "1" + "]" * 98, max_depth=100) is not None


@pytest.mark.parametrize("text", ["a: &v [1, *v]", "a: &v {b: *v}", "a: !!str x\nb: &v [*v]"])
def test_an_alias_inside_its_own_anchor_is_refused(text: str) -> None:
    with pytest.raises(yamlsafe.YamlLimitError) as info:
        yamlsafe.load(text)
    assert "inside its own anchor" in info.value.message
