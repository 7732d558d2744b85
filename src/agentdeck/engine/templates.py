"""Jinja2 templates in a sandbox, with JSON types preserved for single expressions.

Templates see `inputs`, `steps.<id>.output` (also `.status` and `.error`), `item` (inside
`for_each`), `thread` and `env`, and nothing else. A string that is exactly one expression,
`"{{ x }}"`, evaluates to the value of `x` with its JSON type; any other string renders to a
string. Compiled templates are cached, so rendering the same definition twice is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes as jnodes
from jinja2.sandbox import SandboxedEnvironment

from agentdeck.engine.errors import TemplateError

CONTEXT_NAMES = frozenset({"inputs", "steps", "item", "thread", "env"})

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")

_env = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)

Evaluator = Callable[[Mapping[str, Any]], Any]


def is_template(text: str) -> bool:
    """True when `text` contains Jinja markup and must be rendered."""
    return any(marker in text for marker in _MARKERS)


def _single_expression(text: str) -> str | None:
    match = _SINGLE_EXPR.match(text)
    if match is None:
        return None
    expr = match.group("expr")
    if "{{" in expr or "}}" in expr:
        return None
    return expr.strip()


def _undefined_reason(value: jinja2.Undefined) -> str:
    try:
        str(value)
    except jinja2.TemplateError as exc:  # UndefinedError, or SecurityError for unsafe access
        return str(exc)
    return "is undefined"  # pragma: no cover - StrictUndefined always raises


@lru_cache(maxsize=4096)
def _compile_expression(expr: str) -> Evaluator:
    try:
        compiled = _env.compile_expression(expr, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(expr, f"syntax error: {exc.message}") from exc

    def evaluate(context: Mapping[str, Any]) -> Any:
        try:
            value = compiled(**context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(expr, str(exc)) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(expr, str(exc)) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateError(expr, f"{type(exc).__name__}: {exc}") from exc
        if isinstance(value, jinja2.Undefined):
            raise TemplateError(expr, _undefined_reason(value))
        return value

    return evaluate


@lru_cache(maxsize=4096)
def _compile_text(text: str) -> Evaluator:
    try:
        template = _env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(text, f"syntax error: {exc.message}") from exc

    def render(context: Mapping[str, Any]) -> str:
        try:
            return template.render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(text, str(exc)) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateError(text, f"{type(exc).__name__}: {exc}") from exc

    return render


def compile_string(text: str) -> Evaluator:
    """Compile a template string once (cached); raises TemplateError on a syntax error."""
    expr = _single_expression(text)
    if expr is not None:
        return _compile_expression(expr)
    return _compile_text(text)


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render `value` (a string, or dicts and lists nesting strings) against `context`.

    Strings without markup and non-string scalars come back unchanged. Raises TemplateError
    naming the expression when a name is undefined, access is unsafe or the syntax is bad.
    """
    if isinstance(value, str):
        if not is_template(value):
            return value
        return compile_string(value)(context)
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a condition or list expression; surrounding `{{ }}` are optional."""
    if is_template(expression):
        return render(expression, context)
    return _compile_expression(expression.strip())(context)


def needs_rendering(value: Any) -> bool:
    """True when `value` contains at least one template string."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(needs_rendering(item) for item in value.values())
    if isinstance(value, list):
        return any(needs_rendering(item) for item in value)
    return False


# ---- static analysis (used by validate) -------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def parse(text: str, *, expression: bool = False) -> jnodes.Template:
    """Parse a template (or a bare expression) into a Jinja2 AST; raises TemplateError."""
    source = text if (not expression or is_template(text)) else "{{ " + text + " }}"
    try:
        return _env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(text, f"syntax error: {exc.message}") from exc


def references(value: Any, *, expression: bool = False) -> tuple[set[str], set[str]]:
    """Names a templated value reads: (top-level names, step ids under `steps`).

    Raises TemplateError on a syntax error.
    """
    from jinja2 import meta

    names: set[str] = set()
    steps: set[str] = set()
    for text in _strings(value):
        if not expression and not is_template(text):
            continue
        ast = parse(text, expression=expression)
        names |= meta.find_undeclared_variables(ast)
        for attr in ast.find_all(jnodes.Getattr):
            if isinstance(attr.node, jnodes.Name) and attr.node.name == "steps":
                steps.add(attr.attr)
        for item in ast.find_all(jnodes.Getitem):
            if (
                isinstance(item.node, jnodes.Name)
                and item.node.name == "steps"
                and isinstance(item.arg, jnodes.Const)
                and isinstance(item.arg.value, str)
            ):
                steps.add(item.arg.value)
    return names - set(_env.globals), steps
