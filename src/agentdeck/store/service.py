"""Store rules: which space a caller's namespaces live in, who may read and write them,
TTLs, and search (prefix, filter, and semantic `query` with the knowledge bases' embedder).

The client names only namespaces; the server puts them under the caller's org and one of
the caller's spaces (`space_id`, else the one space a key is limited to, else the caller's
personal space), so no key reads another space's items.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.auth.principal import Principal
from agentdeck.errors import InvalidInput, NotFound
from agentdeck.kit.authz import require_space, require_space_role
from agentdeck.kit.db import utcnow
from agentdeck.kit.tenancy import SpaceRole
from agentdeck.knowledge.registry import LOCAL, registry_for
from agentdeck.models import StoreItem
from agentdeck.runtime import Runtime
from agentdeck.store._match import index_text, matches, similarity
from agentdeck.store.repository import SEP, StoreRepository
from agentdeck.store.schemas import (
    ItemDelete,
    ItemOut,
    ItemPut,
    ItemSearch,
    NamespaceSearch,
    NamespacesOut,
    SearchItemOut,
    SearchItemsOut,
)

_SEARCH_CAP = 10_000  # items of one prefix considered per search
EMBEDDING_MODEL = LOCAL  # the knowledge bases' default embedder


async def space_of(
    session: AsyncSession, principal: Principal, space_id: uuid.UUID | None
) -> uuid.UUID:
    """The space the caller's namespaces live in. Raises NotFound (an invisible space) and
    InvalidInput (nothing to default to)."""
    scope = principal.scope
    if space_id is not None:
        if not scope.can_see_space(space_id):
            raise NotFound("space not found", field="space_id")
        return space_id
    if principal.api_key_id is not None and len(scope.space_ids) == 1:
        return next(iter(scope.space_ids))
    personal = await StoreRepository(session, scope).personal_space(principal.user_id)
    if personal is None:
        raise InvalidInput("say which space with ?space_id=", field="space_id")
    return personal


def _require_editor(principal: Principal, space_id: uuid.UUID) -> None:
    """Editors write a space's items; a key needs `write` (checked by the route)."""
    if principal.scope.key_scopes is not None:  # a key: no role check here
        require_space(principal.scope, space_id)
        return
    denied = "this needs the editor role in the space"
    require_space_role(principal.scope, space_id, SpaceRole.EDITOR, denied)


def _ns(labels: Sequence[str]) -> str:
    return SEP.join(labels)


def _out(item: StoreItem) -> ItemOut:
    return ItemOut(
        namespace=item.namespace.split(SEP),
        key=item.key,
        value=item.value,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def _expiry(ttl_minutes: float | None, now: dt.datetime) -> dt.datetime | None:
    return None if ttl_minutes is None else now + dt.timedelta(minutes=ttl_minutes)


async def _embed(runtime: Runtime, texts: list[str]) -> list[list[float]]:
    embedder = registry_for(runtime).local_embedder(EMBEDDING_MODEL)
    return await embedder.embed(texts)


async def put(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    body: ItemPut,
    space_id: uuid.UUID | None,
) -> None:
    """Create or replace an item (embedded first when put with `index`)."""
    space = await space_of(session, principal, space_id)
    _require_editor(principal, space)
    fields = body.index if isinstance(body.index, list) and body.index else None
    embedding = None
    if fields is not None:
        (embedding,) = await _embed(runtime, [index_text(body.value, fields)])
    repo = StoreRepository(session, principal.scope)
    now = utcnow()
    await repo.purge_expired(space, now)  # an expired item is gone: a put makes a new one
    namespace = _ns(body.namespace)
    item = await repo.any_state(space, namespace, body.key)
    if item is None:
        item = StoreItem(org_id=principal.org_id, space_id=space, namespace=namespace, key=body.key)
        repo.add(item)
    item.value = body.value
    item.index_fields = fields
    item.embedding = embedding
    item.ttl_minutes = body.ttl
    item.expires_at = _expiry(body.ttl, now)
    item.updated_at = now


async def get(
    session: AsyncSession,
    principal: Principal,
    namespace: list[str],
    key: str,
    space_id: uuid.UUID | None,
    *,
    refresh_ttl: bool,
) -> ItemOut:
    """One live item. Raises NotFound."""
    space = await space_of(session, principal, space_id)
    now = utcnow()
    item = await StoreRepository(session, principal.scope).one(space, _ns(namespace), key, now)
    if item is None:
        raise NotFound("item not found", field="key")
    if refresh_ttl and item.ttl_minutes is not None:
        item.expires_at = _expiry(item.ttl_minutes, now)
    return _out(item)


async def delete(
    session: AsyncSession, principal: Principal, body: ItemDelete, space_id: uuid.UUID | None
) -> None:
    """Delete an item (deleting a missing item is not an error, as in LangGraph)."""
    space = await space_of(session, principal, space_id)
    _require_editor(principal, space)
    repo = StoreRepository(session, principal.scope)
    item = await repo.any_state(space, _ns(body.namespace), body.key)
    if item is not None:
        await repo.delete(item)


async def search(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    body: ItemSearch,
    space_id: uuid.UUID | None,
) -> SearchItemsOut:
    """Live items under the prefix that pass the filter; with `query`, the indexed items
    most similar to it first (the others after them, without a score)."""
    space = await space_of(session, principal, space_id)
    query_vector = (await _embed(runtime, [body.query]))[0] if body.query else None
    now = utcnow()
    repo = StoreRepository(session, principal.scope)
    rows = await repo.under(space, _ns(body.namespace_prefix), now, cap=_SEARCH_CAP)
    try:
        hits = [r for r in rows if matches(r.value, body.filter)]
    except ValueError as exc:
        raise InvalidInput(str(exc), field="filter") from None
    scored: list[tuple[StoreItem, float | None]] = [(r, None) for r in hits]
    if query_vector is not None:
        scored = [(r, similarity(query_vector, r.embedding) if r.embedding else None) for r in hits]
        scored.sort(key=lambda pair: (pair[1] is None, -(pair[1] or 0.0)))
    page = scored[body.offset : body.offset + body.limit]
    if body.refresh_ttl is not False:
        for item, _ in page:
            if item.ttl_minutes is not None:
                item.expires_at = _expiry(item.ttl_minutes, now)
    return SearchItemsOut(
        items=[SearchItemOut(**_out(r).model_dump(), score=score) for r, score in page]
    )


def _namespace_wanted(labels: list[str], body: NamespaceSearch) -> bool:
    if body.prefix and labels[: len(body.prefix)] != body.prefix:
        return False
    return not (body.suffix and labels[-len(body.suffix) :] != body.suffix)


async def namespaces(
    session: AsyncSession, principal: Principal, body: NamespaceSearch, space_id: uuid.UUID | None
) -> NamespacesOut:
    """The namespaces holding live items (cut at `max_depth`), matching prefix and suffix."""
    space = await space_of(session, principal, space_id)
    found: dict[tuple[str, ...], None] = {}
    for namespace in await StoreRepository(session, principal.scope).namespaces(space, utcnow()):
        labels = namespace.split(SEP)
        if not _namespace_wanted(labels, body):
            continue
        if body.max_depth is not None:
            labels = labels[: body.max_depth]
        found.setdefault(tuple(labels), None)
    chosen = list(found)[body.offset : body.offset + body.limit]
    return NamespacesOut(namespaces=[list(ns) for ns in chosen])
