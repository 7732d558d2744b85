"""The tenant proof (:class:`TenantScope`) and the ORM guard that demands it.

Only the auth package can mint a scope: it claims the single mint key at import time.
Repositories take a scope, filter by it, and tag their statements with it; the guard
installed on every session refuses a query on a tenant-owned table that carries no scope.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session


class _DocumentedEnum(enum.StrEnum):
    """A string enum whose JSON Schema carries an example (every schema in the API has one)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        schema = handler.resolve_ref_schema(schema)
        schema["examples"] = [next(iter(cls)).value]
        return schema


class OrgRole(_DocumentedEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class SpaceRole(_DocumentedEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class KeyScope(_DocumentedEnum):
    READ = "read"
    RUN = "run"
    WRITE = "write"
    ADMIN = "admin"


_ORG_RANK = {OrgRole.MEMBER: 0, OrgRole.ADMIN: 1, OrgRole.OWNER: 2}
_SPACE_RANK = {SpaceRole.VIEWER: 0, SpaceRole.EDITOR: 1, SpaceRole.OWNER: 2}
# A key scope grants itself and every scope below it.
_KEY_RANK = {KeyScope.READ: 0, KeyScope.RUN: 1, KeyScope.WRITE: 2, KeyScope.ADMIN: 3}


def org_role_at_least(role: OrgRole, minimum: OrgRole) -> bool:
    """True when ``role`` is ``minimum`` or above."""
    return _ORG_RANK[role] >= _ORG_RANK[minimum]


def space_role_at_least(role: SpaceRole, minimum: SpaceRole) -> bool:
    """True when ``role`` is ``minimum`` or above."""
    return _SPACE_RANK[role] >= _SPACE_RANK[minimum]


def key_scopes_grant(scopes: frozenset[KeyScope], needed: KeyScope) -> bool:
    """True when any of ``scopes`` is ``needed`` or above."""
    return any(_KEY_RANK[s] >= _KEY_RANK[needed] for s in scopes)


class OrgOwned:
    """Marker for tables whose rows belong to an organisation (they carry ``org_id``)."""

    __tenant__: ClassVar[Literal["org", "space"]] = "org"


class SpaceOwned(OrgOwned):
    """Marker for tables whose rows belong to a space (they carry ``org_id`` and ``space_id``)."""

    __tenant__: ClassVar[Literal["org", "space"]] = "space"


class TenantGuardError(RuntimeError):
    """A query touched a tenant-owned table without a :class:`TenantScope`."""


_MINT_KEY: object | None = object()
_ISSUED_KEY: object | None = None


def claim_mint_key() -> object:
    """Hand out the one key that mints scopes. Only the auth package calls this, once."""
    global _MINT_KEY, _ISSUED_KEY
    if _MINT_KEY is None:
        raise RuntimeError("the TenantScope mint key was already claimed")
    _ISSUED_KEY, _MINT_KEY = _MINT_KEY, None
    return _ISSUED_KEY


@dataclass(frozen=True, slots=True)
class TenantScope:
    """Proof that a caller acts inside one organisation, with the spaces they can see.

    ``space_roles`` maps every space visible to the caller to their role in it; an API key
    limited to some spaces has only those. ``key_scopes`` is ``None`` for a user session.
    """

    org_id: uuid.UUID
    org_role: OrgRole
    space_roles: Mapping[uuid.UUID, SpaceRole]
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None = None
    key_scopes: frozenset[KeyScope] | None = None
    _mint: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if _ISSUED_KEY is None or self._mint is not _ISSUED_KEY:
            raise TenantGuardError("only the auth package can create a TenantScope")

    @property
    def space_ids(self) -> frozenset[uuid.UUID]:
        """Every space the caller may see."""
        return frozenset(self.space_roles)

    def can_see_space(self, space_id: uuid.UUID) -> bool:
        """True when the caller may read the space."""
        return space_id in self.space_roles


def scoped(scope: TenantScope) -> dict[str, Any]:
    """Execution options that mark a statement as tenant-scoped (for the guard)."""
    return {"tenant_scope": scope}


UNSCOPED_REASON = "tenant_bypass"


def _check_statement(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return
    options = state.execution_options
    if options.get("tenant_scope") is not None or options.get(UNSCOPED_REASON):
        return
    mappers = state.all_mappers if state.is_select else [state.bind_mapper]
    for mapper in mappers:
        if mapper is not None and getattr(mapper.class_, "__tenant__", None):
            raise TenantGuardError(
                f"query on tenant-owned table {mapper.class_.__name__} without a TenantScope"
            )


def install_tenant_guard(session_class: type[Session] = Session) -> None:
    """Refuse tenant-owned queries that carry no scope, on every session of this class."""
    if not event.contains(session_class, "do_orm_execute", _check_statement):
        event.listen(session_class, "do_orm_execute", _check_statement)
