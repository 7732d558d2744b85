"""The shared role checks: 404 for a space the caller cannot see, 403 below the role."""

from __future__ import annotations

import uuid

import pytest

from agentdeck.auth.principal import mint_scope
from agentdeck.errors import Forbidden, NotFound
from agentdeck.kit.authz import require_org_role, require_space, require_space_role
from agentdeck.kit.tenancy import KeyScope, OrgRole, SpaceRole, TenantScope

SPACE = uuid.uuid4()


def _scope(
    org_role: OrgRole = OrgRole.MEMBER,
    space_role: SpaceRole | None = SpaceRole.VIEWER,
    key_scopes: frozenset[KeyScope] | None = None,
) -> TenantScope:
    return mint_scope(
        org_id=uuid.uuid4(),
        org_role=org_role,
        space_roles={SPACE: space_role} if space_role else {},
        user_id=uuid.uuid4(),
        api_key_id=uuid.uuid4() if key_scopes is not None else None,
        key_scopes=key_scopes,
    )


def test_org_role_at_least() -> None:
    require_org_role(_scope(OrgRole.OWNER), OrgRole.ADMIN, "no")
    require_org_role(_scope(OrgRole.ADMIN), OrgRole.ADMIN, "no")
    with pytest.raises(Forbidden) as denied:
        require_org_role(_scope(OrgRole.ADMIN), OrgRole.OWNER, "only owners")
    assert denied.value.detail == "only owners"


def test_an_invisible_space_is_not_found_with_the_callers_wording() -> None:
    with pytest.raises(NotFound) as missing:
        require_space(_scope(space_role=None), SPACE)
    assert (missing.value.detail, missing.value.field) == ("space not found", "space_id")
    with pytest.raises(NotFound) as missing:
        require_space_role(
            _scope(space_role=None), SPACE, SpaceRole.VIEWER, "no", missing="run not found",
            field=None,
        )  # fmt: skip
    assert (missing.value.detail, missing.value.field) == ("run not found", None)


def test_space_role_at_least() -> None:
    assert require_space_role(_scope(), SPACE, SpaceRole.VIEWER, "no") is SpaceRole.VIEWER
    with pytest.raises(Forbidden) as denied:
        require_space_role(_scope(), SPACE, SpaceRole.EDITOR, "needs editor")
    assert denied.value.detail == "needs editor"


def test_a_key_is_judged_by_its_scopes_when_asked() -> None:
    runner = _scope(space_role=SpaceRole.VIEWER, key_scopes=frozenset({KeyScope.RUN}))
    reader = _scope(space_role=SpaceRole.EDITOR, key_scopes=frozenset({KeyScope.READ}))
    require_space_role(runner, SPACE, SpaceRole.EDITOR, "no", key_scope=KeyScope.RUN)
    with pytest.raises(Forbidden) as denied:
        require_space_role(reader, SPACE, SpaceRole.EDITOR, "no", key_scope=KeyScope.RUN)
    assert denied.value.detail == "this API key lacks the 'run' scope"
    with pytest.raises(Forbidden):  # without key_scope, a key's role counts
        require_space_role(runner, SPACE, SpaceRole.EDITOR, "no")
