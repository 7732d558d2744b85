"""OpenAPI 3 documents become tools: schemas from path, query, header and body parameters
($refs inlined), calls against a local server the document describes."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.kit import netguard
from agentdeck.tools.base import ToolError, ToolsetConfig, ToolsetConfigError
from agentdeck.tools.openapi import fetch_document
from agentdeck.tools.registry import ToolRegistry, build_toolset
from tests.tools.servers import FakeApi, Recorded, Reply, loopback_allowed, serving

DOCUMENT = """
openapi: 3.0.3
info: {title: Pets, version: "1"}
servers:
  - url: /v1
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      parameters:
        - {name: limit, in: query, schema: {type: integer, maximum: 100}}
        - {$ref: "#/components/parameters/Source"}
      responses: {"200": {description: ok}}
    post:
      operationId: createPet
      description: Create a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewPet"}
      responses: {"201": {description: created}}
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: string}, description: The id}
    get:
      operationId: getPet
      responses: {"200": {description: ok}}
    delete:
      responses: {"204": {description: gone}}
components:
  parameters:
    Source: {name: X-Source, in: header, schema: {type: string, enum: [agent, human]}}
  schemas:
    NewPet:
      type: object
      required: [name]
      properties:
        name: {type: string}
        tag: {type: string}
        parent: {$ref: "#/components/schemas/NewPet"}
"""


def _pets() -> FakeApi:
    api = FakeApi()

    @api.route("GET", "/openapi.yaml")
    def doc(req: Recorded) -> Reply:
        return Reply(200, raw=DOCUMENT.encode(), headers={"content-type": "application/yaml"})

    @api.route("GET", "/v1/pets")
    def listing(req: Recorded) -> Reply:
        return Reply(200, [{"id": "p1", "name": "Rex"}])

    @api.route("POST", "/v1/pets")
    def create(req: Recorded) -> Reply:
        return Reply(201, {"id": "p2", **req.json})

    @api.route("GET", "/v1/pets/{pet}")
    def get(req: Recorded) -> Reply:
        return Reply(200, {"id": req.params["pet"], "name": "Rex"})

    @api.route("DELETE", "/v1/pets/{pet}")
    def delete(req: Recorded) -> Reply:
        return Reply(204)

    return api


async def _auth() -> dict[str, str]:
    return {"X-Api-Key": "k-secret"}


async def test_operations_become_tools_with_schemas() -> None:
    toolset = build_toolset(
        ToolsetConfig("pets", "openapi", {"document": DOCUMENT, "base_url": "https://pets.io/v1"})
    )
    tools = {t.name: t for t in await toolset.list_tools()}
    assert list(tools) == ["listPets", "createPet", "getPet", "delete_pets_petId"]
    assert tools["listPets"].description == "List pets"
    assert tools["listPets"].input_schema == {
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "maximum": 100},
            "X-Source": {"type": "string", "enum": ["agent", "human"]},
        },
        "additionalProperties": False,
    }
    create = tools["createPet"].input_schema
    assert create["required"] == ["body"]
    assert create["properties"]["body"]["required"] == ["name"]
    assert create["properties"]["body"]["properties"]["parent"] == {}  # a cycle, cut
    assert tools["getPet"].input_schema["properties"] == {
        "petId": {"type": "string", "description": "The id"}
    }
    assert tools["getPet"].input_schema["required"] == ["petId"]


async def test_a_fetched_document_calls_its_server() -> None:
    api = _pets()
    async with serving(api) as url:
        with loopback_allowed():
            doc = await fetch_document(url + "/openapi.yaml")
            registry = ToolRegistry.from_configs(
                [
                    ToolsetConfig(
                        "pets",
                        "openapi",
                        {"document": doc, "document_url": url + "/openapi.yaml"},
                        _auth,
                    )
                ]
            )
            listed = await registry.call(
                "pets.listPets", {"limit": 5, "X-Source": "agent"}, idempotency_key="r:n"
            )
            created = await registry.call(
                "pets__createPet", {"body": {"name": "Tom", "tag": "cat"}}, idempotency_key="r:m"
            )
            got = await registry.call("pets.getPet", {"petId": "a b/c"}, idempotency_key="r:o")
            gone = await registry.call(
                "pets.delete_pets_petId", {"petId": "p1"}, idempotency_key="r:p"
            )
        await registry.aclose()
    assert listed == [{"id": "p1", "name": "Rex"}]
    assert created == {"id": "p2", "name": "Tom", "tag": "cat"}
    assert got == {"id": "a b/c", "name": "Rex"}
    assert gone == ""
    _, first, second, third, fourth = api.requests
    assert (first.method, first.path, first.query) == ("GET", "/v1/pets", {"limit": ["5"]})
    assert first.headers["x-source"] == "agent"
    assert first.headers["x-api-key"] == "k-secret"
    assert first.headers["idempotency-key"] == "r:n"
    assert (second.method, second.path, second.json) == (
        "POST",
        "/v1/pets",
        {"name": "Tom", "tag": "cat"},
    )
    assert third.raw_path == "/v1/pets/a%20b%2Fc"  # one path segment
    assert (fourth.method, fourth.path) == ("DELETE", "/v1/pets/p1")


async def test_arguments_are_checked_against_the_schema() -> None:
    registry = ToolRegistry(
        [
            build_toolset(
                ToolsetConfig(
                    "pets", "openapi", {"document": DOCUMENT, "base_url": "https://pets.io"}
                )
            )
        ]
    )
    with pytest.raises(ToolError) as caught:
        await registry.call("pets.createPet", {"body": {"tag": "x"}}, idempotency_key="k")
    assert caught.value.kind == "invalid_input"
    assert "'name' is a required property" in caught.value.message
    with pytest.raises(ToolError) as caught:
        await registry.call("pets.listPets", {"limit": 500}, idempotency_key="k")
    assert "limit" in caught.value.message


async def test_a_private_base_url_is_refused_without_the_policy() -> None:
    api = _pets()
    async with serving(api) as url:
        registry = ToolRegistry(
            [
                build_toolset(
                    ToolsetConfig(
                        "pets", "openapi", {"document": DOCUMENT, "base_url": url + "/v1"}
                    )
                )
            ]
        )
        with pytest.raises(ToolError) as caught:
            await registry.call("pets.listPets", {}, idempotency_key="k")
        await registry.aclose()
        with netguard.using(netguard.NetworkPolicy()), pytest.raises(ToolError) as fetch:
            await fetch_document(url + "/openapi.yaml")
    assert caught.value.kind == "forbidden"
    assert fetch.value.kind == "forbidden"
    assert api.requests == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "document"),
        ({"document": "swagger: '2.0'"}, "document"),
        ({"document": "{not yaml: ["}, "document"),
        ({"document": {"openapi": "3.1.0", "paths": {}}}, "base_url"),
    ],
)
def test_bad_documents_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ToolsetConfigError) as caught:
        build_toolset(ToolsetConfig("pets", "openapi", config))
    assert caught.value.field == field
