"""Layout gates that import-linter cannot express.

No private module is imported from outside its package: a module or package whose name starts
with one underscore (``agentdeck.a.b._x``) may be imported only by modules inside the package
that directly contains it (``agentdeck.a.b``). The same holds for private names: ``from
agentdeck.a.b.m import _f`` is allowed only inside ``agentdeck.a.b``. Every module under
``src/agentdeck`` is parsed (imports inside functions and ``TYPE_CHECKING`` blocks count); third
party privates are out of scope.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = "agentdeck"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        found[name] = Module(name, path, is_package)
    return found


MODULES = _modules()


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _inside(importer: str, package: str) -> bool:
    return importer == package or importer.startswith(package + ".")


def _resolve_from(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: Module) -> Iterator[tuple[int, str, str | None]]:
    """(line, target module, imported name or None) for every agentdeck import in ``module``."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_from(module, node)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in MODULES:
                    yield node.lineno, submodule, None
                else:
                    yield node.lineno, target, alias.name


def _violations(importer: str, target: str, name: str | None) -> Iterator[str]:
    if not _inside(target, PACKAGE):
        return
    parts = target.split(".")
    for index, part in enumerate(parts):
        if _is_private(part):
            owner = ".".join(parts[:index])
            if not _inside(importer, owner):
                yield f"private module {'.'.join(parts[: index + 1])} (outside {owner})"
    if name is not None and _is_private(name):
        defining = MODULES.get(target)
        is_package = defining is not None and defining.is_package
        owner = target if is_package else target.rpartition(".")[0]
        if not _inside(importer, owner):
            yield f"private name {target}.{name} (outside {owner})"


def find_violations() -> list[str]:
    """Every import of a private agentdeck module or name from outside its package."""
    found: list[str] = []
    for module in MODULES.values():
        for line, target, name in _imports(module):
            for problem in _violations(module.name, target, name):
                entry = f"{module.path.relative_to(ROOT)}:{line}: {problem}"
                if entry not in found:  # one line per module, not per imported name
                    found.append(entry)
    return found


def test_no_private_module_or_name_is_imported_from_outside_its_package() -> None:
    violations = find_violations()
    assert not violations, "\n".join(violations)


def test_the_gate_sees_a_violation() -> None:
    # The rules themselves, on names rather than files, so the gate cannot pass by seeing nothing.
    assert list(_violations("agentdeck.app", "agentdeck.knowledge._x", None))
    assert list(_violations("agentdeck.engine.validate", "agentdeck.engine.nodes._x", None))
    assert not list(_violations("agentdeck.engine.nodes.llm", "agentdeck.engine.nodes._x", None))
    assert not list(_violations("agentdeck.engine.nodes", "agentdeck.engine.nodes._x", None))
    assert list(_violations("agentdeck.temporal.x", "agentdeck.run.tasks", "_held"))
    assert not list(_violations("agentdeck.run.service", "agentdeck.run.tasks", "_held"))
    assert not list(_violations("agentdeck.app", "agentdeck.run.tasks", "__all__"))
    assert not list(_violations("agentdeck.app", "yaml._yaml", None))
    assert len(MODULES) > 100
