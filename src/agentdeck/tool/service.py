"""Toolset rules: viewers read, editors create, change, refresh, delete and try tools.

A toolset belongs to a space; its name is a slug unique there (agents call
``<toolset>.<tool>``). Its credential must be usable in that space (org-wide, or limited to
it): another space's is 422 and an invisible one 404. Its tool list is kept as a snapshot
with a hash, taken when the toolset is created or changed and on ``refresh``; agent
definitions are checked against it (:func:`known_references`). Calls are durable: every
outcome is a :class:`ToolCallRecord`, and a call whose idempotency key finished is
answered from it (:func:`recorded` / :func:`record`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.credential import service as credentials
from agentdeck.errors import Conflict, InvalidInput, NotFound
from agentdeck.kit.authz import require_space_role
from agentdeck.kit.db import utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import SpaceRole, TenantScope
from agentdeck.models import ToolCallRecord, Toolset
from agentdeck.tool import _build
from agentdeck.tool._build import CredentialAccess
from agentdeck.tool.repository import ToolCallRepository, ToolsetRepository
from agentdeck.tool.schemas import ToolsetCreate, ToolsetOut, ToolsetUpdate
from agentdeck.tool.settings import ToolSettings
from agentdeck.tools.base import ToolError, ToolsetConfigError
from agentdeck.tools.openapi import fetch_document
from agentdeck.tools.registry import ToolRegistry, guarded_call

__all__ = [
    "CredentialAccess", "create", "delete", "get", "known_references", "list_toolsets",
    "record", "recorded", "refresh", "space_registry", "space_toolsets", "to_out",
    "try_call", "update",
]  # fmt: skip
_OWN_FIELDS = {"name", "kind", "credential"}


def to_out(row: Toolset) -> ToolsetOut:
    """The API's view: no uploaded OpenAPI document (it can be large), no secret."""
    config = {k: v for k, v in (row.config or {}).items() if k != "document"}
    return ToolsetOut(
        id=row.id, space_id=row.space_id, name=row.name, kind=row.kind,
        description=row.description, config=config, credential_id=row.credential_id,
        tool_count=len(row.tools or []), tools_hash=row.tools_hash,
        refreshed_at=row.refreshed_at, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def _require_role(principal: Principal, space_id: uuid.UUID, minimum: SpaceRole) -> None:
    denied = f"you need the {minimum.value} role in the space for this toolset"
    require_space_role(principal.scope, space_id, minimum, denied)


def _config_error(exc: ToolsetConfigError) -> InvalidInput:
    field = exc.field if exc.field in _OWN_FIELDS else f"config.{exc.field}"
    if exc.field == "credential":
        field = "credential_id"
    return InvalidInput(f"{field}: {exc.message}", field=field)


def _check_stdio(kind: str, config: dict[str, Any]) -> None:
    """Refuse an mcp toolset that would start a process, unless the operator allows it."""
    if kind != "mcp" or ToolSettings().allow_stdio:
        return
    if config.get("transport") == "stdio" or "command" in config:
        raise InvalidInput(
            "stdio MCP servers run processes on the server and are disabled "
            "(the operator enables them with AGENTDECK_TOOLS__ALLOW_STDIO)",
            field="config.transport",
        )


async def _check_credential(
    session: AsyncSession, principal: Principal, credential_id: uuid.UUID, space_id: uuid.UUID
) -> None:
    """404 for a credential the caller cannot see; 422 for one limited to another space."""
    await credentials.get(session, principal, credential_id)
    try:
        await credentials.usable_in_space(session, principal.scope, credential_id, space_id)
    except NotFound:
        raise InvalidInput(
            "the credential is limited to another space", field="credential_id"
        ) from None


async def _resolve_document(config: dict[str, Any]) -> dict[str, Any]:
    """An openapi config whose ``document_url`` is fetched (through netguard) when no
    ``document`` was uploaded."""
    if config.get("document") is not None or not isinstance(config.get("document_url"), str):
        return config
    try:
        document = await fetch_document(config["document_url"])
    except ToolError as exc:
        raise InvalidInput(
            f"config.document_url: {exc.message}", field="config.document_url"
        ) from None
    except ToolsetConfigError as exc:
        message = f"config.document_url: {exc.message}"
        raise InvalidInput(message, field="config.document_url") from None
    return {**config, "document": document}


async def _take_snapshot(
    row: Toolset, access: CredentialAccess, *, refresh: bool, session: AsyncSession
) -> None:
    """Build the toolset (422 naming a wrong config key) and store its tool list.

    Reading the list may read the credential (its own short transactions) and always waits
    on the network, so the request's transaction is committed first: call it only while the
    request has written nothing yet (on SQLite its write lock would block the credential)."""
    await session.commit()
    try:
        toolset = _build.build(row, access)
    except ToolsetConfigError as exc:
        raise _config_error(exc) from None
    try:
        definitions = await (toolset.refresh() if refresh else toolset.list_tools())
    except ToolError as exc:
        message = f"the tool list could not be read: {exc.message}"
        raise InvalidInput(message, field="config") from None
    finally:
        await toolset.aclose()
    row.tools, row.tools_hash = _build.snapshot(definitions)
    row.refreshed_at = utcnow()


async def create(
    session: AsyncSession, principal: Principal, access: CredentialAccess, body: ToolsetCreate
) -> Toolset:
    """Create a toolset in ``body.space_id`` and snapshot its tools.

    Raises NotFound (space or credential invisible), Forbidden (below editor), Conflict
    (name taken in the space), InvalidInput (a wrong config key, named; a credential of
    another space; a stdio MCP server; a tool list that cannot be read).
    """
    _require_role(principal, body.space_id, SpaceRole.EDITOR)
    repo = ToolsetRepository(session, principal.scope)
    if await repo.by_name(body.space_id, body.name) is not None:
        raise Conflict(f"a toolset named '{body.name}' already exists here", field="name")
    if body.credential_id is not None:
        await _check_credential(session, principal, body.credential_id, body.space_id)
    config = dict(body.config)
    _check_stdio(body.kind, config)
    if body.kind == "openapi":
        config = await _resolve_document(config)
    row = Toolset(
        id=uuid.uuid4(), org_id=principal.org_id, space_id=body.space_id, name=body.name,
        kind=body.kind, description=body.description, config=config,
        credential_id=body.credential_id, created_by=principal.user_id,
    )  # fmt: skip
    await _take_snapshot(row, access, refresh=True, session=session)
    repo.add(row)
    await session.flush()
    _audit(session, principal, "toolset.created", row, {"name": row.name, "kind": row.kind})
    return row


async def get(session: AsyncSession, principal: Principal, toolset_id: uuid.UUID) -> Toolset:
    """A toolset the caller can see. Raises NotFound."""
    row = await ToolsetRepository(session, principal.scope).get(toolset_id)
    if row is None:
        raise NotFound("toolset not found")
    return row


async def list_toolsets(
    session: AsyncSession,
    principal: Principal,
    *,
    space_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Toolset]:
    """Toolsets of the visible spaces (of one space when given; invisible: 404)."""
    if space_id is not None:
        _require_role(principal, space_id, SpaceRole.VIEWER)
    return await ToolsetRepository(session, principal.scope).list(
        space_id=space_id, limit=limit, cursor=cursor
    )


async def update(
    session: AsyncSession,
    principal: Principal,
    access: CredentialAccess,
    toolset_id: uuid.UUID,
    body: ToolsetUpdate,
) -> Toolset:
    """Change a toolset; a new config or credential takes a new snapshot. Raises as
    :func:`create`."""
    row = await get(session, principal, toolset_id)
    _require_role(principal, row.space_id, SpaceRole.EDITOR)
    fields = body.model_dump(exclude_unset=True)
    repo = ToolsetRepository(session, principal.scope)
    renamed = body.name is not None and body.name != row.name
    if renamed and await repo.by_name(row.space_id, body.name or "") is not None:
        raise Conflict(f"a toolset named '{body.name}' already exists here", field="name")
    credential_id = row.credential_id
    if "credential_id" in fields:
        if body.credential_id is not None:
            await _check_credential(session, principal, body.credential_id, row.space_id)
        credential_id = body.credential_id
    config = row.config
    if body.config is not None:
        config = dict(body.config)
        _check_stdio(row.kind, config)
        config = await _resolve_document(config) if row.kind == "openapi" else config
    if {"config", "credential_id"} & set(fields):  # nothing is changed until the list is read
        candidate = Toolset(
            id=row.id, org_id=row.org_id, space_id=row.space_id, name=row.name, kind=row.kind,
            config=config, credential_id=credential_id,
        )  # fmt: skip
        await _take_snapshot(candidate, access, refresh=True, session=session)
        row.tools, row.tools_hash = candidate.tools, candidate.tools_hash
        row.refreshed_at = candidate.refreshed_at
    if body.name is not None:
        row.name = body.name
    if "description" in fields:
        row.description = body.description
    row.credential_id, row.config = credential_id, config
    row.updated_at = utcnow()
    _audit(session, principal, "toolset.updated", row, {"changed_fields": sorted(fields)})
    return row


async def delete(session: AsyncSession, principal: Principal, toolset_id: uuid.UUID) -> None:
    """Remove a toolset (agents naming it fail their tool calls as unknown)."""
    row = await get(session, principal, toolset_id)
    _require_role(principal, row.space_id, SpaceRole.EDITOR)
    await ToolsetRepository(session, principal.scope).delete(row)
    _audit(session, principal, "toolset.deleted", row, {"name": row.name})


async def refresh(
    session: AsyncSession, principal: Principal, access: CredentialAccess, toolset_id: uuid.UUID
) -> Toolset:
    """Read the tool list again (an MCP server's ``tools/list``) and store the snapshot."""
    row = await get(session, principal, toolset_id)
    _require_role(principal, row.space_id, SpaceRole.EDITOR)
    await _take_snapshot(row, access, refresh=True, session=session)
    row.updated_at = utcnow()
    _audit(session, principal, "toolset.refreshed", row, {"tools_hash": row.tools_hash})
    return row


async def try_call(
    session: AsyncSession,
    principal: Principal,
    access: CredentialAccess,
    toolset_id: uuid.UUID,
    tool: str,
    arguments: dict[str, Any],
) -> tuple[Any, ToolError | None]:
    """Call one tool for an editor trying it: a normal call (netguard, credential,
    Idempotency-Key, limits), recorded and audited. Returns (result, None) or (None, the
    ToolError a model would get). Raises NotFound (toolset or tool), Forbidden.

    Commits the request's transaction before the call (the credential may refresh)."""
    row = await get(session, principal, toolset_id)
    _require_role(principal, row.space_id, SpaceRole.EDITOR)
    if tool not in {t.get("name") for t in row.tools or []}:
        raise NotFound(f"the toolset '{row.name}' has no tool '{tool}'", field="tool_name")
    await session.commit()
    try:
        built = _build.build(row, access)
    except ToolsetConfigError as exc:
        raise _config_error(exc) from None
    key = f"try:{uuid.uuid4()}"
    error: ToolError | None = None
    result: Any = None
    try:
        result = await guarded_call(built, tool, arguments, key)
    except ToolError as exc:
        error = exc
    finally:
        await built.aclose()
    record(session, principal.scope, row.space_id, None, key, f"{row.name}.{tool}", arguments,
           result=result, error=error)  # fmt: skip
    _audit(
        session, principal, "toolset.tool_called", row,
        {"tool": tool, "ok": error is None, "error_kind": error.kind if error else None},
    )  # fmt: skip
    return result, error


def _audit(
    session: AsyncSession, principal: Principal, action: str, row: Toolset, changes: Any
) -> None:
    audit.record(
        session, org_id=principal.org_id, actor=principal.actor, action=action,
        target_type="toolset", target_id=row.id, changes=changes,
    )  # fmt: skip


# --- for agents and runs ------------------------------------------------------------------


async def known_references(
    session: AsyncSession, scope: TenantScope, space_id: uuid.UUID
) -> set[str]:
    """Every reference an agent of the space may use: each toolset's name and each of
    its tools as ``<toolset>.<tool>`` (from the snapshots)."""
    refs: set[str] = set()
    for row in await ToolsetRepository(session, scope).in_space(space_id):
        refs.add(row.name)
        refs.update(f"{row.name}.{t.get('name')}" for t in row.tools or [])
    return refs


async def space_toolsets(
    session: AsyncSession, scope: TenantScope, space_id: uuid.UUID
) -> list[Toolset]:
    """The stored toolsets of a space (to build a run's registry)."""
    return list(await ToolsetRepository(session, scope).in_space(space_id))


async def recorded(
    session: AsyncSession, scope: TenantScope, idempotency_key: str
) -> ToolCallRecord | None:
    """The record of the call with this key, if one was made."""
    return await ToolCallRepository(session, scope).by_key(idempotency_key)


def record(
    session: AsyncSession,
    scope: TenantScope,
    space_id: uuid.UUID,
    run_id: uuid.UUID | None,
    idempotency_key: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    result: Any = None,
    error: ToolError | None = None,
    existing: ToolCallRecord | None = None,
) -> ToolCallRecord:
    """Add (or overwrite ``existing``) the outcome of one call to the session."""
    toolset, _, name = tool.partition(".")
    row = existing or ToolCallRecord(
        org_id=scope.org_id, space_id=space_id, run_id=run_id, idempotency_key=idempotency_key
    )
    row.toolset, row.tool, row.arguments = toolset, name, dict(arguments)
    row.status = "failed" if error is not None else "completed"
    row.result = None if error is not None else result
    row.error = error.to_dict() if error is not None else None
    row.updated_at = utcnow()
    if existing is None:
        session.add(row)
    return row


async def space_registry(
    session: AsyncSession, scope: TenantScope, access: CredentialAccess, space_id: uuid.UUID
) -> ToolRegistry:
    """The registry of a space's toolsets, their credentials read through ``access``
    (a run's ToolPort). Close it with ``aclose``."""
    return _build.registry(await space_toolsets(session, scope, space_id), access)
