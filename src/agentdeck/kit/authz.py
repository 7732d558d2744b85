"""Role checks, written once: org role at least X, space role at least X.

Every check reads the caller's :class:`~agentdeck.kit.tenancy.TenantScope`, so an API key
limited to some spaces sees only those. A space the caller cannot see (another
organisation's, one they do not belong to, one outside their key's limit) is answered with
:class:`NotFound`, never :class:`Forbidden`: its existence is not revealed. A role below the
minimum is :class:`Forbidden`. The wording of each refusal belongs to the feature, so callers
pass their messages.
"""

from __future__ import annotations

import uuid

from agentdeck.errors import Forbidden, NotFound
from agentdeck.kit.tenancy import (
    KeyScope,
    OrgRole,
    SpaceRole,
    TenantScope,
    key_scopes_grant,
    org_role_at_least,
    space_role_at_least,
)

SPACE_NOT_FOUND = "space not found"


def require_org_role(scope: TenantScope, minimum: OrgRole, denied: str) -> None:
    """Pass when the caller's org role is ``minimum`` or above; else :class:`Forbidden`
    with ``denied`` as its detail."""
    if not org_role_at_least(scope.org_role, minimum):
        raise Forbidden(denied)


def require_space(
    scope: TenantScope,
    space_id: uuid.UUID,
    *,
    missing: str = SPACE_NOT_FOUND,
    field: str | None = "space_id",
) -> SpaceRole:
    """The caller's role in a space they can see; :class:`NotFound` (``missing``, naming
    ``field``) when they cannot."""
    role = scope.space_roles.get(space_id)
    if role is None:
        raise NotFound(missing, field=field)
    return role


def require_space_role(
    scope: TenantScope,
    space_id: uuid.UUID,
    minimum: SpaceRole,
    denied: str,
    *,
    missing: str = SPACE_NOT_FOUND,
    field: str | None = "space_id",
    key_scope: KeyScope | None = None,
) -> SpaceRole:
    """The caller's role in the space, which must be ``minimum`` or above.

    Raises :class:`NotFound` (``missing``, naming ``field``) when the caller cannot see the
    space, and :class:`Forbidden` (``denied``) when their role is too low. With
    ``key_scope``, an API key is judged by its scopes instead of a role: it needs one that
    grants ``key_scope`` (:class:`Forbidden` "this API key lacks the '<scope>' scope").
    """
    role = require_space(scope, space_id, missing=missing, field=field)
    if key_scope is not None and scope.key_scopes is not None:
        if not key_scopes_grant(scope.key_scopes, key_scope):
            raise Forbidden(f"this API key lacks the '{key_scope.value}' scope")
        return role
    if not space_role_at_least(role, minimum):
        raise Forbidden(denied)
    return role
