"""One walk over every route: another tenant's ids are always 404, lists never leak them.

The walker reads ``app.openapi()``. Every path parameter must be fillable with one of
tenant A's real ids: ``org_id`` and ``user_id`` are A's own, any other ``{x}`` is created by
POSTing the request schema's example to the collection in front of ``/{x}``. A new route
whose parameter cannot be filled that way fails this test until the walker is extended.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.factories import Tenant, create_api_key, create_tenant, key_headers, personal_space_id
from tests.knowledge.support import ingest_for_walker

_PARAM = re.compile(r"\{([^}]+)\}")
_METHODS = ("get", "post", "put", "patch", "delete")
# The response field that holds the new resource's key, where it is not `id`.
_ID_FIELD = {
    "assistant_id": "assistant_id",
    "thread_id": "thread_id",
    "run_id": "run_id",
}

# Follow-ups after creating a resource: runs are cancelled at once, because the walker's app
# has no worker and joining or streaming a pending run would wait for it.
_AFTER_CREATE = {"run_id": "/cancel"}

# Follow-ups that need the app: documents are ingested by a worker, which the walker's app
# lacks; ingesting them in place lets their event streams end.
_AFTER_CREATE_HOOK = {"doc_id": ingest_for_walker}

# Resources named by the caller (PUT creates or replaces them in the caller's own org). Their
# names are per-organisation, so B's PUT of the same name makes B's own resource: not a leak.
_NAME_KEYED = {"alias": "walker"}

# Resources created by a POST that is not on their collection: crawl runs are started by
# POST .../sources/{source_id}/crawl (202) and listed at .../crawls.
_CREATED_AT = {"crawl_id": "crawl"}


# Parameters that name something inside a resource rather than a resource: a fixed value
# that exists in the resource the walker creates (the example toolset is `github`; every
# agent and prompt has a version 1).
_FIXED = {"tool_name": "list_issues", "label": "production", "version": "1"}


def _fill(path: str, ids: dict[str, str]) -> str:
    missing = [name for name in _PARAM.findall(path) if name not in ids]
    assert not missing, f"the walker cannot fill {missing} in {path}: extend it"
    return _PARAM.sub(lambda m: ids[m.group(1)], path)


def _example_body(spec: dict[str, Any], op: dict[str, Any], where: str) -> Any:
    """The request schema's example, so that the request reaches the handler."""
    content = op.get("requestBody", {}).get("content", {})
    if not content:
        return None
    assert "application/json" in content, f"{where}: the walker only sends JSON bodies"
    schema = content["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    example = schema.get("example") or (schema.get("examples") or [None])[0]
    assert example is not None, f"{where}: the request schema needs an example for the walker"
    return example


async def _create_resources(
    client: httpx.AsyncClient, spec: dict[str, Any], a: Tenant, app: Any = None
) -> dict[str, str]:
    """One of each resource a path parameter can name, owned by A."""
    paths: dict[str, Any] = spec["paths"]
    ids = {"org_id": a.org_id, "user_id": a.user_id, **_FIXED}
    space_id = await personal_space_id(client, a)
    wanted = {name for path in paths for name in _PARAM.findall(path)} - set(ids)
    while wanted:
        progress = False
        for name in sorted(wanted):
            if name in _NAME_KEYED:
                item_path = next(p for p in paths if p.endswith("/{" + name + "}"))
                ids[name] = _NAME_KEYED[name]
                body = _example_body(spec, paths[item_path]["put"], f"PUT {item_path}")
                resp = await client.put(_fill(item_path, ids), json=body, headers=a.headers)
                assert resp.status_code in (200, 201), f"PUT {item_path} as A: {resp.text}"
                wanted.discard(name)
                progress = True
                continue
            item_paths = [p for p in paths if p.endswith("/{" + name + "}")]
            assert item_paths, f"no route ends in /{{{name}}}: the walker cannot create one"
            collection = item_paths[0].rsplit("/", 1)[0]
            if name in _CREATED_AT:
                collection = f"{collection.rsplit('/', 1)[0]}/{_CREATED_AT[name]}"
            create = paths.get(collection, {}).get("post")
            assert create, f"cannot create a {{{name}}}: no POST {collection}; extend the walker"
            if any(p not in ids for p in _PARAM.findall(collection)):
                continue  # its parent is not made yet
            body = _example_body(spec, create, f"POST {collection}")
            if isinstance(body, dict) and "space_id" in body:
                body = {**body, "space_id": space_id}  # create-in-space: A's personal space
            resp = await client.post(_fill(collection, ids), json=body, headers=a.headers)
            assert resp.status_code in (200, 201, 202), f"POST {collection} as A: {resp.text}"
            ids[name] = str(resp.json()[_ID_FIELD.get(name, "id")])
            if name in _AFTER_CREATE_HOOK:
                await _AFTER_CREATE_HOOK[name](app)
            if name in _AFTER_CREATE:
                follow = f"{_fill(collection, ids)}/{ids[name]}{_AFTER_CREATE[name]}"
                done = await client.post(follow, headers=a.headers)
                assert done.status_code == 200, f"POST {follow} as A: {done.text}"
            wanted.discard(name)
            progress = True
        assert progress, f"cannot order the creation of {sorted(wanted)}"
    return ids


def _is_stream(op: dict[str, Any]) -> bool:
    """An event stream (it never ends by itself; its own tests follow it)."""
    return "text/event-stream" in op.get("responses", {}).get("200", {}).get("content", {})


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


async def _assert_a_sees_everything(
    client: httpx.AsyncClient, paths: dict[str, Any], ids: dict[str, str], a: Tenant
) -> None:
    for path, item in paths.items():
        if "get" in item and _PARAM.search(path):
            resp = await client.get(_fill(path, ids), headers=a.headers)
            assert resp.status_code == 200, f"A cannot GET its own {path}: {resp.text}"


async def test_another_tenant_gets_404_on_every_route(client: httpx.AsyncClient, app: Any) -> None:
    spec = app.openapi()
    paths: dict[str, Any] = spec["paths"]
    a, b = await create_tenant(client), await create_tenant(client)
    ids = await _create_resources(client, spec, a, app)
    b_key = key_headers((await create_api_key(client, b, scopes=["admin"]))["key"])
    await _assert_a_sees_everything(client, paths, ids, a)

    walked = 0
    for path, item in paths.items():
        if not _PARAM.search(path):
            continue
        url = _fill(path, ids)
        name_keyed = any(n in _NAME_KEYED for n in _PARAM.findall(path))
        for method in (m for m in _METHODS if m in item and not (name_keyed and m == "put")):
            body = _example_body(spec, item[method], f"{method.upper()} {path}")
            for who, headers in (("B", b.headers), ("B's API key", b_key)):
                resp = await client.request(method.upper(), url, json=body, headers=headers)
                assert resp.status_code == 404, (
                    f"{who} {method.upper()} {path} with A's ids: {resp.status_code} {resp.text}"
                )
                assert resp.headers["content-type"] == "application/problem+json"
                walked += 1
    assert walked >= 10

    # Nothing B tried changed A's resources.
    await _assert_a_sees_everything(client, paths, ids, a)


async def test_another_tenants_lists_never_contain_its_ids(
    client: httpx.AsyncClient, app: Any
) -> None:
    spec = app.openapi()
    paths: dict[str, Any] = spec["paths"]
    a, b = await create_tenant(client), await create_tenant(client)
    ids = await _create_resources(client, spec, a, app)
    a_ids = set(ids.values())
    b_key = key_headers((await create_api_key(client, b, scopes=["admin"]))["key"])

    lists = 0
    for path, item in paths.items():
        if "get" not in item or _PARAM.search(path) or _is_stream(item["get"]):
            continue
        mine = await client.get(path, headers=a.headers)
        if mine.status_code != 200 or "items" not in mine.json():
            continue
        lists += 1
        # The walker's resources that live in this collection are listed for A ...
        here = {n for n, v in ids.items() if any(p == f"{path}/{{{n}}}" for p in paths)}
        assert {ids[n] for n in here} <= _strings(mine.json()["items"]), path
        # ... and none of A's ids reach B.
        for headers in (b.headers, b_key):
            theirs = await client.get(path, params={"limit": 200}, headers=headers)
            assert theirs.status_code == 200, f"GET {path} as B: {theirs.text}"
            leaked = a_ids & _strings(theirs.json())
            assert not leaked, f"GET {path} as B leaks A's ids {leaked}"
    assert lists >= 2
