"""Jinja2 templates in a sandbox, with JSON types preserved for single expressions.

Templates see `inputs`, `steps.<id>.output` (also `.status` and `.error`), `item` (inside
`for_each`), `thread` and `env`, and nothing else. A string that is exactly one expression,
`"{{ x }}"`, evaluates to the value of `x` with its JSON type (a value that is not JSON, such
as a function, is a TemplateError); any other string renders to a string. Inputs and step
outputs are data: `inputs.items` is the input called `items`, not the dict's method.

One render is bounded (`MAX_STEPS` loop iterations, calls and filters; `MAX_SIZE` characters
of output or items of any value it builds; powers and repeats that would exceed them are
refused before they run), and `render_async` renders heavy templates in a worker thread, so
no template can stall the event loop. Compiled templates are cached.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import string
from collections.abc import Callable, Iterator, Mapping, Sized
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes as jnodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from agentdeck.engine.errors import TemplateError

CONTEXT_NAMES = frozenset({"inputs", "steps", "item", "thread", "env"})

MAX_STEPS = 200_000
"""The steps one render may take: a loop iteration or an operator is one step, a filter two,
a call (a method, a macro) eight, roughly what each costs."""
_FILTER_STEPS = 2
_CALL_STEPS = 8
MAX_SIZE = 1_000_000
"""Characters one render may output, and characters or items of any value it builds."""
MAX_INT_BITS = 14_000
"""The largest integer a template may build (about 4,200 digits: printable, and JSON)."""
MAX_WIDTH = 10_000
"""The largest width or precision in a format string (`%`, `format`, `str.format`)."""
HEAVY_CHARS = 2_000
"""Templates longer than this, or with statements or `range`, render in a worker thread."""

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, MemoryError, RecursionError)
"""What rendering or constant folding raises for a bad expression (not a crash)."""

Evaluator = Callable[[Mapping[str, Any]], Any]


# ---- the budget of one render ---------------------------------------------------------------


class OverBudget(SecurityError):
    """A render went over its budget (steps, size, a power or repeat too large)."""


class _Budget:
    __slots__ = ("size", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.size = MAX_SIZE


_budget: ContextVar[_Budget | None] = ContextVar("agentdeck_template_budget", default=None)


def _tick(steps: int = 1, size: int = 0) -> None:
    """Spend steps (and `size` characters of output) of the current render's budget."""
    budget = _budget.get()
    if budget is None:  # compile-time constant folding: bounded by the source's size
        return
    budget.steps -= steps
    budget.size -= size
    if budget.steps < 0:
        raise OverBudget(
            f"over budget: more than {MAX_STEPS} steps (loop iterations, calls, filters)"
        )
    if budget.size < 0:
        raise OverBudget(f"over budget: more than {MAX_SIZE} characters of output")


def _sized(value: Any) -> Any:
    if isinstance(value, Sized) and not isinstance(value, range) and len(value) > MAX_SIZE:
        raise OverBudget(f"over budget: a value of more than {MAX_SIZE} characters or items")
    return value


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise OverBudget(f"over budget: a number of more than {MAX_INT_BITS} bits")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_int_bits(abs(base).bit_length() * exponent)


def _check_times(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        _check_int_bits(abs(left).bit_length() + abs(right).bit_length())
        return
    for seq, count in ((left, right), (right, left)):
        size = _length(seq)
        if size is not None and isinstance(count, int) and size * count > MAX_SIZE:
            raise OverBudget(f"over budget: a value of more than {MAX_SIZE} characters or items")


def _check_plus(left: Any, right: Any) -> None:
    a, b = _length(left), _length(right)
    if a is not None and b is not None and a + b > MAX_SIZE:
        raise OverBudget(f"over budget: a value of more than {MAX_SIZE} characters or items")


def _check_widths(widths: Iterator[str | None]) -> None:
    for width in widths:
        if width and (not width.isdigit() or int(width) > MAX_WIDTH):
            raise OverBudget(f"over budget: a format width or precision above {MAX_WIDTH}")


def _check_percent_format(text: str) -> None:
    for match in _PERCENT_SPEC.finditer(text):
        _check_widths(iter(match.groups()))


def _check_brace_format(text: str) -> None:
    for _literal, _field, spec, _conversion in string.Formatter().parse(text):
        if spec:
            if "{" in spec:
                raise OverBudget("nested format specs are not allowed")
            _check_widths(iter(re.findall(r"\d+", spec)))


# ---- the environment ------------------------------------------------------------------------


class _Meter(Extension):
    """What compiled loops call once per iteration (`tick`)."""

    identifier = "agentdeck.meter"

    def tick(self, size: int) -> None:
        """One loop iteration that outputs `size` characters of template text."""
        _tick(size=size)


def _is_tick(node: jnodes.Node) -> bool:
    return (
        isinstance(node, jnodes.Call)
        and isinstance(node.node, jnodes.ExtensionAttribute)
        and node.node.identifier == _Meter.identifier
    )


class _BudgetedCodeGenerator(CodeGenerator):
    """Every loop iteration spends a step (and its static text); `~` checks its size."""

    def visit_For(self, node: jnodes.For, frame: Frame) -> None:
        first = node.body[0] if node.body else None
        if not (isinstance(first, jnodes.ExprStmt) and _is_tick(first.node)):
            size = sum(len(data.data) for data in node.find_all(jnodes.TemplateData))
            call = jnodes.Call(
                jnodes.ExtensionAttribute(_Meter.identifier, "tick"),
                [jnodes.Const(size)],
                [],
                None,
                None,
                lineno=node.lineno,
            )
            node.body = [jnodes.ExprStmt(call, lineno=node.lineno), *node.body]
        super().visit_For(node, frame)

    def visit_Call(self, node: jnodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        if _is_tick(node):  # our own call: straight to the meter, not through the sandbox
            size = node.args[0]
            assert isinstance(size, jnodes.Const)
            self.write(f"environment.extensions[{_Meter.identifier!r}].tick({int(size.value)})")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Concat(self, node: jnodes.Concat, frame: Frame) -> None:
        self.write("environment.budget_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _finalize(value: Any) -> str:
    """Every `{{ }}` output of a render spends its length (also inside `set` blocks)."""
    text = value if isinstance(value, str) else str(value)
    _tick(steps=0, size=len(text))
    return text


def _guard_args(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse, before they run, filter arguments that would build a value over budget."""
    if name in ("center", "indent"):
        width = args[1] if len(args) > 1 else kwargs.get("width", 0)
        if isinstance(width, int) and width > MAX_SIZE:
            raise OverBudget(f"over budget: a width above {MAX_SIZE}")
    elif name == "format" and args and isinstance(args[0], str):
        _check_percent_format(args[0])
    elif name == "replace" and len(args) >= 3:
        text, old, new = (str(a) for a in args[:3])
        grows = (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)
        if len(text) + grows > MAX_SIZE:
            raise OverBudget(f"over budget: a value of more than {MAX_SIZE} characters")


def _metered(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that spends a step per use and checks the size of what it returns. It takes
    the context, so Jinja never folds it at compile time (no unbounded work at import)."""
    passes = getattr(getattr(func, "jinja_pass_arg", None), "name", None)

    @jinja2.pass_context
    def metered(context: Context, *args: Any, **kwargs: Any) -> Any:
        _tick(_FILTER_STEPS)
        _guard_args(name, args, kwargs)
        if passes == "context":
            return _sized(func(context, *args, **kwargs))
        if passes == "eval_context":
            return _sized(func(context.eval_ctx, *args, **kwargs))
        if passes == "environment":
            return _sized(func(context.environment, *args, **kwargs))
        return _sized(func(*args, **kwargs))

    return metered


class _DataEnvironment(SandboxedEnvironment):
    """The sandbox, where data wins over methods and every render is bounded.

    `inputs.items` is the key `items` of a mapping that has it (its method otherwise).
    """

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=_finalize,
            extensions=[_Meter],
        )
        self.globals.pop("lipsum", None)  # unbounded text on request, and no use for data
        for name, func in list(self.filters.items()):
            self.filters[name] = _metered(name, func)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                if attribute in obj:
                    return obj[attribute]
            except TypeError:  # an unhashable-key mapping: treat as an object
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_times(left, right)
        elif operator == "+":
            _check_plus(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick(_CALL_STEPS)
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            template: str = value.__self__
            _check_brace_format(template)
        return wrapped

    def budget_concat(self, parts: tuple[Any, ...]) -> str:
        """`a ~ b` (called by compiled templates), refused when the result is too large."""
        _tick()
        texts = [part if isinstance(part, str) else str(part) for part in parts]
        if sum(len(t) for t in texts) > MAX_SIZE:
            raise OverBudget(f"over budget: a value of more than {MAX_SIZE} characters")
        return "".join(texts)


_env = _DataEnvironment()


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


def _bounded(source: str, work: Callable[[], Any]) -> Any:
    """Run one render with a fresh budget; every way it can fail is a TemplateError."""
    token = _budget.set(_Budget())
    try:
        return work()
    except jinja2.TemplateError as exc:  # UndefinedError, SecurityError, OverBudget
        raise TemplateError(source, str(exc)) from exc
    except _ERRORS as exc:
        raise TemplateError(source, f"{type(exc).__name__}: {exc}") from exc
    finally:
        _budget.reset(token)


def _compiled(source: str, compile: Callable[[], Any]) -> Any:
    try:
        return compile()
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(source, f"syntax error: {exc.message}") from exc
    except jinja2.TemplateError as exc:  # e.g. an unknown filter
        raise TemplateError(source, str(exc)) from exc
    except _ERRORS as exc:  # constant folding, or a source nested too deep
        raise TemplateError(source, f"{type(exc).__name__}: {exc}") from exc


def _materialised(value: Any) -> Any:
    """A lazy sequence (`xs | map(...)`, `range(3)`) as the list it stands for, in budget."""
    if isinstance(value, Iterator | range):
        return list(itertools.islice(value, MAX_SIZE + 1))
    return value


@lru_cache(maxsize=4096)
def _compile_expression(expr: str) -> Evaluator:
    compiled = _compiled(expr, lambda: _env.compile_expression(expr, undefined_to_none=False))

    def evaluate(context: Mapping[str, Any]) -> Any:
        value = _bounded(expr, lambda: _sized(_materialised(compiled(**context))))
        if isinstance(value, jinja2.Undefined):
            raise TemplateError(expr, _undefined_reason(value))
        return value

    return evaluate


@lru_cache(maxsize=4096)
def _compile_text(text: str) -> Evaluator:
    template = _compiled(text, lambda: _env.from_string(text))

    def render(context: Mapping[str, Any]) -> str:
        rendered: str = _bounded(text, lambda: _sized(template.render(context)))
        return rendered

    return render


def compile_string(text: str) -> Evaluator:
    """Compile a template string once (cached); raises TemplateError on a syntax error."""
    expr = _single_expression(text)
    if expr is not None:
        return _compile_expression(expr)
    return _compile_text(text)


def _json_data(value: Any, source: str) -> Any:
    """`value` as JSON data (tuples become lists). Raises TemplateError for anything else: a
    function, a class, a generator, a number that is not finite or too large to print."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        _check_int_bits(value.bit_length())
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateError(source, f"gave {value}, which is not a JSON number")
        return value
    if isinstance(value, list | tuple):
        return [_json_data(item, source) for item in value]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                out[key] = _json_data(item, source)
            elif key is None or isinstance(key, int | float):
                out[json.dumps(key)] = _json_data(item, source)  # JSON's spelling of the key
            else:
                raise TemplateError(source, f"gave a mapping with a {type(key).__name__} key")
        return out
    raise TemplateError(
        source, f"gave a value of type {type(value).__name__!r}, which is not JSON data"
    )


def _as_json(value: Any, source: str) -> Any:
    try:
        return _json_data(value, source)
    except (OverBudget, RecursionError) as exc:  # a value nested in itself, or too large
        raise TemplateError(source, f"{type(exc).__name__}: {exc}") from exc


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render `value` (a string, or dicts and lists nesting strings) against `context`.

    Strings without markup and non-string scalars come back unchanged. Raises TemplateError
    naming the expression when a name is undefined, access is unsafe, the syntax is bad, the
    render goes over its budget or a single expression's value is not JSON data.
    """
    if isinstance(value, str):
        if not is_template(value):
            return value
        return _as_json(compile_string(value)(context), value)
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


@lru_cache(maxsize=4096)
def _heavy_text(text: str) -> bool:
    return is_template(text) and ("{%" in text or "range" in text or len(text) > HEAVY_CHARS)


def is_heavy(value: Any) -> bool:
    """True when rendering `value` may take long: statements (loops), `range`, or size."""
    return any(_heavy_text(text) for text in _strings(value))


async def render_async(value: Any, context: Mapping[str, Any]) -> Any:
    """`render`, in a worker thread when `value` is heavy (`is_heavy`), so that a template
    near its budget never stalls the event loop. Raises what `render` raises."""
    if not is_heavy(value):
        return render(value, context)
    return await asyncio.to_thread(render, value, _snapshot(context))


def _snapshot(context: Mapping[str, Any]) -> dict[str, Any]:
    """A copy a thread may read while the loop adds finished steps to the original."""
    snapshot = dict(context)
    steps = snapshot.get("steps")
    if isinstance(steps, dict):
        snapshot["steps"] = dict(steps)
    return snapshot


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a condition or list expression; surrounding `{{ }}` are optional."""
    if is_template(expression):
        return render(expression, context)
    return _compile_expression(expression.strip())(context)


async def evaluate_async(expression: str, context: Mapping[str, Any]) -> Any:
    """`evaluate`, in a worker thread when the expression is heavy (`is_heavy`)."""
    if is_template(expression):
        return await render_async(expression, context)
    if not is_heavy("{{ " + expression + " }}"):
        return evaluate(expression, context)
    return await asyncio.to_thread(evaluate, expression, _snapshot(context))


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
    ast: jnodes.Template = _compiled(text, lambda: _env.parse(source))
    return ast


class _NotConstant(Exception):
    pass


def _constant(node: jnodes.Expr) -> Any:
    """The value of a constant expression, computed with the render's checks (an operator
    the sandbox intercepts is never folded by Jinja); _NotConstant when it reads names."""
    if isinstance(node, jnodes.BinExpr) and node.operator in _env.intercepted_binops:
        left, right = _constant(node.left), _constant(node.right)
        return _env.call_binop(None, node.operator, left, right)  # type: ignore[arg-type]
    try:
        return node.as_const()
    except jnodes.Impossible:
        raise _NotConstant from None


def _check_constants(ast: jnodes.Template) -> None:
    """Refuse constant arithmetic over budget (`2 ** 100000`) before the template is used."""
    for node in ast.find_all(jnodes.BinExpr):
        try:
            _constant(node)
        except _NotConstant:
            continue


_PATH = r"\s*([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)\s*"
_SIMPLE_EXPR = re.compile(r"\{\{" + _PATH + r"\}\}")
_SIMPLE_WHOLE = re.compile(_PATH)
_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})


def _simple_paths(text: str, *, expression: bool) -> list[tuple[str, str]] | None:
    """The (name, ".attr.attr") lookups of a template made only of text and `{{ dotted.path
    }}` expressions (the common case, read without Jinja's parser), or None for any other."""
    if expression:
        whole = _SIMPLE_WHOLE.fullmatch(text)
        if whole is None or whole[1] in _LITERALS:
            return None
        return [(whole[1], whole[2])]
    if "{%" in text or "{#" in text:
        return None
    found = [(m[1], m[2]) for m in _SIMPLE_EXPR.finditer(text)]
    rest = _SIMPLE_EXPR.sub("", text)
    if "{{" in rest or "}}" in rest or any(name in _LITERALS for name, _ in found):
        return None
    return found


def references(value: Any, *, expression: bool = False) -> tuple[set[str], set[str]]:
    """Names a templated value reads: (top-level names, step ids under `steps`).

    Raises TemplateError on a syntax error, or for constant arithmetic over the budget.
    """
    from jinja2 import meta

    names: set[str] = set()
    steps: set[str] = set()
    for text in _strings(value):
        if not expression and not is_template(text):
            continue
        simple = _simple_paths(text, expression=expression)
        if simple is not None:  # plain `{{ a.b.c }}` lookups: no parse needed
            for name, rest in simple:
                names.add(name)
                if name == "steps" and rest:
                    steps.add(rest.split(".", 2)[1])
            continue
        ast = parse(text, expression=expression)
        _compiled(text, lambda ast=ast: _check_constants(ast))  # type: ignore[misc]
        names |= _compiled(text, lambda ast=ast: meta.find_undeclared_variables(ast))  # type: ignore[misc]
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
