"""Text that can be stored: no NUL characters.

PostgreSQL refuses NUL in ``text`` and in ``jsonb`` (a 500 there), SQLite keeps it and hands
it on to every reader. The request guard (`agentdeck._middleware`) refuses any JSON body or
query parameter that holds one, naming the field; form fields and file names are checked
where they are read, with :func:`nul_path`.
"""

from __future__ import annotations

NUL = "\x00"


def nul_path(value: object) -> list[str | int] | None:
    """Where the first NUL in JSON-like data is: the path of keys and indexes to the string
    (or key) that holds one, ``[]`` for a bare string, None when there is none. Walks with an
    explicit stack, so deeply nested data cannot exhaust the recursion limit."""
    stack: list[tuple[list[str | int], object]] = [([], value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return path
        elif isinstance(item, dict):
            children: list[tuple[list[str | int], object]] = []
            for key, child in item.items():
                if isinstance(key, str) and NUL in key:
                    return [*path, key.replace(NUL, "\\u0000")]
                children.append(([*path, str(key)], child))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([([*path, i], child) for i, child in enumerate(item)]))
    return None


def dotted(path: list[str | int], root: str = "body") -> str:
    """A path as the problem documents' ``field`` names it (``metadata.tags.0``)."""
    return ".".join(str(part) for part in path) or root
