"""Statements built once per shape, for the hot paths (a run's rows, the job queue).

Building a SQLAlchemy statement (coercing every clause, then computing its cache key) costs
more CPU than SQLite takes to run a simple one. A statement object reused with bound
parameters is built once and keeps its cache key, so only its parameters change per call.

`update_row` is ``UPDATE <table> SET <columns> WHERE id = :k_id [AND <column> = :value ...]``
for a model's attribute names (``metadata_`` is the column ``metadata``); `row_params` gives
its parameters. These are Core statements on the table: they skip the ORM's bulk update,
which evaluates its criteria against the session's objects, and the tenant guard (callers
act on ids they were handed: the worker, the queue).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import Table, Update, bindparam, update

T = TypeVar("T")

_BUILT: dict[tuple[Any, ...], Any] = {}
_MAX = 4096


def built(key: tuple[Any, ...], build: Callable[[], T]) -> T:
    """The statement ``build`` makes for ``key``, made once per process."""
    found = _BUILT.get(key)
    if found is None:
        if len(_BUILT) >= _MAX:  # shapes are few; this only bounds a caller's mistake
            _BUILT.clear()
        found = _BUILT[key] = build()
    return cast(T, found)


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _column(model: type[Any], key: str) -> Any:
    return model.__mapper__.column_attrs[key].columns[0]


def update_row(model: type[Any], keys: tuple[str, ...], where: tuple[str, ...] = ()) -> Update:
    """``UPDATE`` of the attributes ``keys`` of the row with ``:k_id``, guarded by equality on
    the attributes ``where`` (parameters: `row_params`)."""

    def build() -> Update:
        table = table_of(model)
        stmt = update(table).where(table.c.id == bindparam("k_id"))
        for key in where:
            stmt = stmt.where(_column(model, key) == bindparam(f"w_{key}"))
        values = {
            _column(model, key): bindparam(f"v_{key}", type_=_column(model, key).type)
            for key in keys
        }
        return stmt.values(values)

    return built(("update", model, keys, where), build)


def row_params(ident: Any, values: Mapping[str, Any], **where: Any) -> dict[str, Any]:
    """The parameters of `update_row` for the row ``ident``."""
    params = {f"v_{key}": value for key, value in values.items()}
    params["k_id"] = ident
    for key, value in where.items():
        params[f"w_{key}"] = value
    return params


__all__ = ["built", "row_params", "table_of", "update_row"]
