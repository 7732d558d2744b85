"""Saving a definition pauses Python's garbage collector and always turns it back on."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest

from agentdeck.agent import service
from agentdeck.engine import SpecError
from tests.factories import create_tenant, personal_space_id


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


async def test_the_collector_is_on_after_imports_that_pass_and_fail(
    client: httpx.AsyncClient,
) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    headers = {**t.headers, "Content-Type": "application/yaml"}
    for text, status in [
        ("name: ok\nnodes:\n  - {id: a, type: transform, value: 1}\n", 201),
        ("name: bad\nnodes:\n  - {id: a, type: transform, needs: [b], value: 1}\n", 422),
        ("name: [unclosed\n", 422),
    ]:
        resp = await client.post(
            "/api/v1/agents/import", params={"space_id": space}, content=text, headers=headers
        )
        assert resp.status_code == status, resp.text
        assert gc.isenabled()


def test_overlapping_pauses_turn_it_on_after_the_last() -> None:
    pause = service._CollectorPause()
    with pause():
        assert not gc.isenabled()
        with pause():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    with service._collector_paused():
        pass
    assert not gc.isenabled()


def test_validated_gives_the_spec_and_its_stored_form() -> None:
    spec, stored = service.validated(
        source="name: x\nnodes:\n  - {id: a, type: transform, value: '{{ inputs.q }}'}\n"
    )
    assert spec.name == "x"
    assert stored == {
        "name": "x",
        "nodes": [{"id": "a", "type": "transform", "value": "{{ inputs.q }}"}],
    }
    with pytest.raises(SpecError):
        service.validated(definition={"name": "x", "nodes": []})
    assert gc.isenabled()
