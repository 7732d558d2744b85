"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis 4).

Checks: no operation answers 5xx, and every documented response matches its schema.
The fuzzer runs a separate app in schemathesis' own ASGI client (its own event loop), as a
real tenant. Bounded to a few examples per operation to keep the suite fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from agentdeck.app import create_app
from agentdeck.config import Settings
from agentdeck.kit.db import create_sessionmaker
from tests.factories import PASSWORD, unique_email
from tests.offline_model import use_offline_models


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings) -> Iterator[Any]:
    app = use_offline_models(create_app(settings, configure_logs=False))
    runtime = app.state.runtime
    if not settings.resolved_db_url.startswith("sqlite"):
        # Every request runs on a new event loop; pooled asyncpg connections cannot follow.
        runtime.engine = create_async_engine(settings.resolved_db_url, poolclass=NullPool)
        runtime.sessionmaker = create_sessionmaker(runtime.engine)
    yield app


@pytest.fixture(scope="module")
def fuzz_token(fuzz_app: Any) -> str:
    client = TestClient(fuzz_app, client=("192.0.2.10", 50000))
    resp = client.post(
        "/api/v1/auth/signup",
        json={"email": unique_email("fuzz"), "password": PASSWORD, "name": "Fuzz"},
    )
    assert resp.status_code == 201, resp.text
    token: str = resp.json()["access_token"]
    key = client.post(
        "/api/v1/api-keys",
        json={"name": "fuzz", "scopes": ["read"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert key.status_code == 201
    return token


def _schema(app: Any) -> Any:
    return (
        schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        # Would revoke (or sign out) the fuzzing tenant itself.
        .exclude(path="/api/v1/auth/logout")
        .exclude(method="DELETE", path="/api/v1/orgs/{org_id}")
        # Would make outbound calls to a model provider.
        .exclude(path_regex=r"^/api/v1/providers/\{provider_id\}/test$")
        # A live feed: it never ends by itself (tests/approval follows it).
        .exclude(path="/api/v1/approvals/stream")
    )


_BOUNDED = hypothesis_settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _fuzz(operation: Any, mode: GenerationMode, token: str) -> None:
    @_BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 429:
            return  # login throttling doing its job
        if response.status_code == 502 and case.path.endswith("/llm/chat"):
            # The (offline) model could not satisfy a fuzzed schema: an upstream failure the
            # gateway reports as a 502 problem, not a server bug (types are hyphenated on the
            # wire: llm.structured_output is served as llm.structured-output).
            assert response.json()["type"].endswith(("llm.structured-output", "llm.unavailable"))
            return
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    run()


def test_no_server_errors_and_responses_match_the_schema(fuzz_app: Any, fuzz_token: str) -> None:
    failures: list[str] = []
    operations = 0
    for result in _schema(fuzz_app).get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, fuzz_token)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break in /healthz
            except Exception as exc:  # collect every operation's failure, then report
                failures.append(f"--- {operation.label} ({mode.value}) ---\n{exc}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
