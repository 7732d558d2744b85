from __future__ import annotations

import threading

import pytest

from agentdeck.engine import TemplateError
from agentdeck.engine.templates import (
    evaluate,
    evaluate_async,
    is_heavy,
    references,
    render,
    render_async,
)

CTX = {
    "inputs": {"xs": [1, 2], "flag": False, "name": "Ada", "obj": {"k": "v"}},
    "steps": {"a": {"output": {"n": 3, "tags": ["x"]}, "status": "completed", "error": None}},
    "thread": None,
    "env": {"REGION": "eu"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ inputs.xs }}", [1, 2]),
        ("{{ inputs.flag }}", False),
        ("  {{ inputs.obj }} ", {"k": "v"}),
        ("{{ steps.a.output.n * 2 }}", 6),
        ("{{ steps.a.output.tags }}", ["x"]),
        ("{{ none }}", None),
        ("Hi {{ inputs.name }} from {{ env.REGION }}", "Hi Ada from eu"),
        ("{{ inputs.xs }}{{ inputs.flag }}", "[1, 2]False"),
        ("no markup", "no markup"),
    ],
)
def test_single_expression_keeps_json_type(template: str, expected: object) -> None:
    assert render(template, CTX) == expected


def test_nested_structures_render_recursively() -> None:
    value = {"a": ["{{ inputs.xs }}", {"b": "{{ inputs.flag }}"}], "n": 5, "s": "x{{ 1 }}"}
    assert render(value, CTX) == {"a": [[1, 2], {"b": False}], "n": 5, "s": "x1"}


@pytest.mark.parametrize(
    "template", ["{{ inputs.missing }}", "{{ steps.nope.output }}", "x {{ unknown }} y"]
)
def test_undefined_names_raise_naming_the_expression(template: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, CTX)
    assert info.value.expression in template


@pytest.mark.parametrize(
    "template",
    [
        "{{ inputs.__class__ }}",
        "{{ inputs.name.__class__.__mro__ }}",
        "x {{ inputs.__class__.__subclasses__() }}",
        "{{ inputs.obj.items.__globals__ }}",
    ],
)
def test_sandbox_blocks_dunder_access(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, CTX)


def test_syntax_error_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="syntax"):
        render("{{ inputs. }}", CTX)


def test_evaluate_accepts_bare_or_braced_expressions() -> None:
    assert evaluate("steps.a.output.n > 2", CTX) is True
    assert evaluate("{{ inputs.flag }}", CTX) is False


def test_references_find_steps_and_names() -> None:
    names, steps = references(
        {"x": "{{ steps.a.output }} {{ steps['b'].x }}", "y": ["{{ inputs.q | length }}"]}
    )
    assert steps == {"a", "b"}
    assert names == {"steps", "inputs"}


# ---- data wins over methods (issue 11 item 1) ----------------------------------------------

DATA = {"inputs": {"items": [1, 2], "keys": "k", "values": {"get": 3}, "update": None}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ inputs.items }}", [1, 2]),
        ("{{ inputs['items'] }}", [1, 2]),
        ("{{ inputs.keys }}", "k"),
        ("{{ inputs.values.get }}", 3),
        ("{{ inputs.update }}", None),
        ("{% for x in inputs.items %}{{ x }}{% endfor %}", "12"),
        ("{{ inputs.values.items() | list }}", [["get", 3]]),
    ],
)
def test_a_mapping_key_wins_over_a_method(template: str, expected: object) -> None:
    assert render(template, DATA) == expected


# ---- a value must be JSON data (issue 11 item 2) --------------------------------------------


@pytest.mark.parametrize(
    "template",
    ["{{ cycler }}", "{{ inputs.name.upper }}", "{{ namespace() }}", "{{ 1e308 * 10 }}"],
)
def test_a_value_that_is_not_json_is_a_template_error(template: str) -> None:
    with pytest.raises(TemplateError, match="JSON"):
        render(template, CTX)


def test_lazy_sequences_become_lists() -> None:
    assert render("{{ inputs.xs | map('string') }}", CTX) == ["1", "2"]
    assert render("{{ range(3) }}", CTX) == [0, 1, 2]
    assert render("{{ {1: (2, 3)} }}", CTX) == {"1": [2, 3]}


# ---- one render is bounded (issue 11 item 3) ------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% macro f(d) %}{% if d %}{{ f(d-1) }}{{ f(d-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "{% for i in range(100000) %}{{ 'abcdefghijklmnopq' }}{% endfor %}",
        "{% set s %}{% for i in range(90000) %}{{ inputs.name * 9 }}{% endfor %}{% endset %}x",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "{{ (2 ** 100000) | string }}",
        "{{ 'x' * 10 ** 9 }}",
        "{{ [1] * 10 ** 9 }}",
        "{{ 'x' | center(10 ** 9) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'ab' | replace('', 'x' * 900000) }}",
    ],
)
def test_a_render_over_budget_is_a_template_error(template: str) -> None:
    with pytest.raises(TemplateError, match="over budget"):
        render(template, CTX)


def test_work_within_budget_renders() -> None:
    assert len(render("{% for i in range(90000) %}{{ i % 10 }}{% endfor %}", CTX)) == 90000
    assert render("{{ 2 ** 100 }}", CTX) == 2**100
    assert render("{{ range(1000) | map('string') | join | length }}", CTX) == 2890


@pytest.mark.parametrize(
    "template", ["{{ (2 ** 100000) | string }}", "{{ 'x' * 100000000 }}", "{{ 9 ** (9 ** 9) }}"]
)
def test_constant_arithmetic_over_budget_is_refused_before_use(template: str) -> None:
    with pytest.raises(TemplateError, match="over budget"):
        references(template)


def test_errors_of_python_are_template_errors() -> None:
    with pytest.raises(TemplateError, match="RecursionError"):
        render("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", CTX)
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ inputs.xs[0] // 0 }}", CTX)


class _Readers(dict[str, object]):
    """Inputs that note which thread reads them."""

    threads: set[int]

    def __getitem__(self, key: str) -> object:
        self.threads.add(threading.get_ident())
        return super().__getitem__(key)


async def test_heavy_templates_render_in_a_thread() -> None:
    loop_text = "{% for x in inputs.xs %}{{ x }}{% endfor %}"
    assert is_heavy(loop_text) and is_heavy({"a": ["{{ range(3) }}"]})
    assert not is_heavy("{{ inputs.xs }}") and not is_heavy(["no markup"])
    inputs = _Readers(xs=[1, 2])
    inputs.threads = set()
    assert await render_async(loop_text, {**CTX, "inputs": inputs}) == "12"
    assert inputs.threads and threading.get_ident() not in inputs.threads
    inputs.threads = set()
    assert await render_async("{{ inputs.xs }}", {**CTX, "inputs": inputs}) == [1, 2]
    assert inputs.threads == {threading.get_ident()}  # a light one renders in place
    with pytest.raises(TemplateError, match="over budget"):
        await render_async("{% for i in range(99999) %}{{ range(9) | list }}{% endfor %}", CTX)


async def test_heavy_expressions_evaluate_in_a_thread() -> None:
    inputs = _Readers(xs=[1, 2])
    inputs.threads = set()
    assert await evaluate_async("range(3) | list", {**CTX, "inputs": inputs}) == [0, 1, 2]
    assert await evaluate_async("inputs.xs", {**CTX, "inputs": inputs}) == [1, 2]
    assert inputs.threads == {threading.get_ident()}
    assert await evaluate_async("{{ range(2) }}", CTX) == [0, 1]


@pytest.mark.parametrize(
    ("value", "expression"),
    [
        ("{{ steps.a.output.text }} and {{ inputs.q }}", False),
        ("{{steps.b.output}}", False),
        ("{{ true }} {{ inputs.x }}", False),
        ("{{ steps.a.output | length }}", False),
        ("{% if inputs.x %}{{ steps.c.output }}{% endif %}", False),
        ("steps.a.output.ok", True),
        ("true", True),
        ("steps.a.output.n > 3", True),
        ("literal }} braces {{ inputs.y }}", False),
    ],
)
def test_plain_lookups_read_without_the_parser_give_what_the_parser_gives(
    value: str, expression: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentdeck.engine import templates

    fast = references(value, expression=expression)
    monkeypatch.setattr(templates, "_simple_paths", lambda text, *, expression: None)
    assert fast == references(value, expression=expression)
