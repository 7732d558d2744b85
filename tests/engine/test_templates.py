from __future__ import annotations

import pytest

from agentdeck.engine import TemplateError
from agentdeck.engine.templates import evaluate, references, render

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
