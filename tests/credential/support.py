"""Helpers of the credential suites: a local HTTP server on 127.0.0.1 and request helpers."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx

from agentdeck.kit import netguard
from tests.factories import Tenant

Answer = tuple[int, dict[str, Any]]


class LocalServer:
    """A tiny real HTTP server on 127.0.0.1: records every request (path, headers, form)
    and answers with ``answer(path, form)``."""

    def __init__(self, answer: Callable[[str, dict[str, str]], Answer]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "form": form,
                    }
                )
                status, body = outer.answer(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def allowed(self) -> Iterator[None]:
        """The operator allows this server's host and port (the network policy)."""
        policy = netguard.NetworkPolicy.parse([f"127.0.0.1:{self.server.server_address[1]}"])
        with netguard.using(policy):
            yield

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def create_credential(
    client: httpx.AsyncClient, auth: dict[str, str], **payload: Any
) -> httpx.Response:
    body = {"name": f"c-{uuid.uuid4().hex[:8]}", **payload}
    return await client.post("/api/v1/credentials", json=body, headers=auth)


async def audit_text(client: httpx.AsyncClient, tenant: Tenant) -> str:
    resp = await client.get("/api/v1/audit-logs", params={"limit": 200}, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    return resp.text
