"""Plain factories that act through the HTTP API, as a user would."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"


@dataclass
class Tenant:
    """A signed-up user with their organisation and personal space."""

    email: str
    password: str
    access_token: str
    refresh_token: str
    user_id: str
    org_id: str
    body: dict[str, Any] = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_seq)}-{uuid.uuid4().hex[:8]}@example.org"


def tenant_from(body: dict[str, Any], email: str, password: str) -> Tenant:
    return Tenant(
        email=email,
        password=password,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        user_id=body["user"]["id"],
        org_id=body["org"]["id"],
        body=body,
    )


async def create_tenant(client: httpx.AsyncClient, **overrides: Any) -> Tenant:
    """Sign up a new user (and org, unless ``invite_token`` is given)."""
    payload = {
        "email": unique_email(),
        "password": PASSWORD,
        "name": "Test User",
        "org_name": f"Org {next(_seq)}",
        **overrides,
    }
    resp = await client.post("/api/v1/auth/signup", json=payload)
    assert resp.status_code == 201, resp.text
    return tenant_from(resp.json(), payload["email"], payload["password"])


async def personal_space_id(client: httpx.AsyncClient, tenant: Tenant) -> str:
    resp = await client.get("/api/v1/spaces", headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    return next(s["id"] for s in resp.json()["items"] if s["is_personal"])


async def create_api_key(
    client: httpx.AsyncClient, tenant: Tenant, **overrides: Any
) -> dict[str, Any]:
    payload = {"name": f"key {next(_seq)}", "scopes": ["read"], **overrides}
    resp = await client.post("/api/v1/api-keys", json=payload, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# --- helpers for the auth, API key, audit and cross-tenant suites -------------------------


def route_missing(resp: httpx.Response) -> bool:
    """True for the router's own 404/405 (no such route yet), not a handler's 404."""
    return resp.status_code in (404, 405) and resp.json().get("detail") in (
        "Not Found",
        "Method Not Allowed",
    )


def key_headers(key: str) -> dict[str, str]:
    """Headers that authenticate with an API key through ``X-Api-Key``."""
    return {"X-Api-Key": key}


async def invite(
    client: httpx.AsyncClient, inviter: Tenant, email: str, role: str = "member"
) -> dict[str, Any] | None:
    """Invite ``email`` into the inviter's org; ``None`` while the route does not exist yet."""
    resp = await client.post(
        f"/api/v1/orgs/{inviter.org_id}/invitations",
        json={"email": email, "role": role},
        headers=inviter.headers,
    )
    if route_missing(resp):
        return None
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def add_member(app: Any, org_id: str, user_id: str, role: str = "member") -> None:
    """Make an existing user a member of an org directly in the database (test set-up only)."""
    from agentdeck.models import OrgMembership

    async with app.state.runtime.sessionmaker() as session:
        session.add(OrgMembership(org_id=uuid.UUID(org_id), user_id=uuid.UUID(user_id), role=role))
        await session.commit()


async def switch_org(client: httpx.AsyncClient, tenant: Tenant, org_id: str) -> Tenant:
    """The same user, with tokens for another org they belong to."""
    resp = await client.post(
        "/api/v1/auth/switch-org", json={"org_id": org_id}, headers=tenant.headers
    )
    assert resp.status_code == 200, resp.text
    return tenant_from(resp.json(), tenant.email, tenant.password)


# --- helpers for the org and space suites -------------------------------------------------


async def join_by_invitation(
    client: httpx.AsyncClient, inviter: Tenant, role: str = "member", **overrides: Any
) -> Tenant:
    """A new user invited into the inviter's org with ``role``, signed up with the token."""
    email = overrides.pop("email", None) or unique_email("invitee")
    invitation = await invite(client, inviter, email, role)
    assert invitation is not None, "the invitations route is missing"
    payload = {
        "email": email,
        "password": PASSWORD,
        "name": "Invitee",
        "invite_token": invitation["token"],
        **overrides,
    }
    resp = await client.post("/api/v1/auth/signup", json=payload)
    assert resp.status_code == 201, resp.text
    return tenant_from(resp.json(), email, PASSWORD)


async def create_space(
    client: httpx.AsyncClient, tenant: Tenant | dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """Create a shared space as ``tenant`` (or with the given headers)."""
    headers = tenant.headers if isinstance(tenant, Tenant) else tenant
    payload = {"name": f"Space {next(_seq)}", **overrides}
    resp = await client.post("/api/v1/spaces", json=payload, headers=headers)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def add_space_member(
    client: httpx.AsyncClient, owner: Tenant, space_id: str, user_id: str, role: str = "viewer"
) -> dict[str, Any]:
    """Add an org member to a space as its owner."""
    resp = await client.post(
        f"/api/v1/spaces/{space_id}/members",
        json={"user_id": user_id, "role": role},
        headers=owner.headers,
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# --- helpers for the agent, assistant, thread and langgraph suites --------------------------

HITL_YAML = """\
name: {name}
description: Transform, ask a person, transform again.
inputs:
  type: object
  properties:
    ticket: {{type: string}}
nodes:
  - id: draft
    type: transform
    value:
      text: "{{{{ inputs.ticket }}}}"
  - id: review
    type: human
    needs: [draft]
    message: "Approve {{{{ steps.draft.output.text }}}}?"
  - id: final
    type: transform
    needs: [review]
    value:
      text: "{{{{ steps.draft.output.text }}}}"
      approved: "{{{{ steps.review.output.approved }}}}"
"""


def agent_definition(name: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A small valid agent definition (two transform nodes)."""
    return {
        "name": name or f"agent-{next(_seq)}",
        "nodes": [
            {"id": "first", "type": "transform", "value": {"x": "{{ inputs.x }}"}},
            {
                "id": "second",
                "type": "transform",
                "needs": ["first"],
                "value": "{{ steps.first.output.x }}",
            },
        ],
        **overrides,
    }


async def create_agent(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    space_id: str,
    definition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create an agent in ``space_id`` through the API."""
    resp = await client.post(
        "/api/v1/agents",
        json={"space_id": space_id, "definition": definition or agent_definition()},
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def import_agent(
    client: httpx.AsyncClient, headers: dict[str, str], space_id: str, source: str
) -> dict[str, Any]:
    """Import a YAML agent definition into ``space_id``."""
    resp = await client.post(
        "/api/v1/agents/import",
        params={"space_id": space_id},
        content=source.encode(),
        headers={**headers, "Content-Type": "application/yaml"},
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# --- helpers for the run suite --------------------------------------------------------------


async def create_agent_row(
    app: Any, org_id: uuid.UUID | str, space_id: uuid.UUID | str, spec: dict[str, Any]
) -> dict[str, Any]:
    """Insert an agent with version 1 = ``spec`` directly (until the agent API exists)."""
    from agentdeck.models import Agent, AgentVersion

    org, space = uuid.UUID(str(org_id)), uuid.UUID(str(space_id))
    agent = Agent(id=uuid.uuid4(), org_id=org, space_id=space, name=f"{spec['name']}-{next(_seq)}")
    version = AgentVersion(
        id=uuid.uuid4(), org_id=org, space_id=space, agent_id=agent.id, version=1, spec=spec
    )
    async with app.state.runtime.sessionmaker() as session:
        session.add(agent)
        await session.flush()
        session.add(version)
        await session.commit()
    return {"id": agent.id, "org_id": org, "space_id": space, "name": agent.name}


# --- helpers for the usage and budget suites ----------------------------------------------


def usage_record(tenant: Tenant, **overrides: Any) -> Any:
    """A gateway usage record attributed to ``tenant``'s org and user (``llm.ports``)."""
    from agentdeck.llm.ports import UsageRecord

    fields: dict[str, Any] = {
        "org_id": tenant.org_id,
        "user_id": tenant.user_id,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.01,
        "latency_ms": 100.0,
        **overrides,
    }
    return UsageRecord.model_validate(fields)
