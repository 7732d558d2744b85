"""Helpers of the toolset suites: a GitHub-shaped server, a credential, a toolset."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.factories import Tenant
from tests.tools.servers import FakeApi, Recorded, Reply

SECRET = "ghp_s3cr3t_T0KEN_value_9876"


class GitHub:
    """A GitHub-shaped API (REST v3 issues) that keeps the issues it creates."""

    def __init__(self) -> None:
        self.api = FakeApi()
        self.issues: list[dict[str, Any]] = []
        self.hold: asyncio.Event | None = None
        """When set, an issue creation waits for it before answering."""

        @self.api.route("POST", "/repos/{owner}/{repo}/issues")
        async def create(req: Recorded) -> Reply:
            issue = {
                "id": 1000 + len(self.issues) + 1,
                "number": len(self.issues) + 1,
                "title": req.json["title"],
                "body": req.json.get("body"),
                "state": "open",
                "html_url": f"https://github.com/{req.params['owner']}/"
                f"{req.params['repo']}/issues/{len(self.issues) + 1}",
                "user": {"login": "octocat"},
                "labels": [],
                "comments": 0,
            }
            self.issues.append(issue)
            return Reply(201, issue)

        @self.api.route("GET", "/repos/{owner}/{repo}/issues")
        def listing(req: Recorded) -> Reply:
            return Reply(200, self.issues)

    @property
    def requests(self) -> list[Recorded]:
        return self.api.requests


async def bearer_credential(
    client: httpx.AsyncClient, tenant: Tenant, space_id: str | None = None, name: str = "gh"
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "kind": "bearer", "token": SECRET}
    if space_id is not None:
        body["space_id"] = space_id
    resp = await client.post("/api/v1/credentials", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def github_toolset(
    client: httpx.AsyncClient,
    tenant: Tenant,
    space_id: str,
    base_url: str,
    credential_id: str | None,
    *,
    name: str = "github",
    **config: Any,
) -> dict[str, Any]:
    body = {
        "space_id": space_id,
        "name": name,
        "kind": "builtin",
        "config": {"integration": "github", "base_url": base_url, **config},
        "credential_id": credential_id,
    }
    resp = await client.post("/api/v1/toolsets", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result
