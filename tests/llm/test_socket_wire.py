"""`agentdeck.llm._socket_wire` against a local server of our own (asyncio, on loopback):
framing by Content-Length, chunks and connection close, keep-alive reuse, a pooled
connection the server closed, timeouts, the network policy, and TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agentdeck.kit import netguard
from agentdeck.llm import _socket_wire
from agentdeck.llm._socket_wire import SocketWire
from agentdeck.llm._wire import WireError

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the answer to a request's head+body; returns whether to keep the connection."""


class Server:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if not await self.answer(head + body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[tuple[Server, str, SocketWire]]:
    server = Server(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    policy = netguard.NetworkPolicy.parse([f"127.0.0.1:{port}"])
    wire = SocketWire(policy=policy)
    try:
        yield server, f"http://127.0.0.1:{port}/v1/chat/completions", wire
    finally:
        await wire.aclose()
        listener.close()
        await listener.wait_closed()


def fixed(body: bytes, status: str = "200 OK", extra: bytes = b"") -> Answer:
    async def answer(_request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        await writer.drain()
        return True

    return answer


HEADERS = [("Content-Type", "application/json"), ("Authorization", "Bearer sk-x")]


async def test_content_length_answers_reuse_one_connection() -> None:
    async with serving(fixed(b'{"ok": 1}')) as (server, url, wire):
        for _ in range(3):
            response = await wire.post(url, HEADERS, b'{"model": "m"}')
            assert response.status == 200 and response.header("content-type") == "application/json"
            assert await response.read() == b'{"ok": 1}'
            await response.aclose()
        assert server.connections == 1
        head, _, body = server.requests[0].partition(b"\r\n\r\n")
        assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nAuthorization: Bearer sk-x" in head and b"Content-Length: 14" in head
        assert body == b'{"model": "m"}'


async def test_chunked_stream_arrives_in_pieces() -> None:
    release = asyncio.Event()

    async def answer(_request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"7\r\ndata: a\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"7;ext=1\r\ndata: b\r\n0\r\nX-Trailer: 1\r\n\r\n")
        await writer.drain()
        return True

    async with serving(answer) as (server, url, wire):
        response = await wire.post(url, HEADERS, b"{}")
        chunks = aiter(response.chunks())
        assert await anext(chunks) == b"data: a"  # before the rest was even written
        release.set()
        assert [c async for c in chunks] == [b"data: b"]
        release.clear()
        again = await wire.post(url, HEADERS, b"{}")  # the connection went back to the pool
        release.set()
        assert await again.read() == b"data: adata: b"
        assert server.connections == 1


async def test_an_answer_until_close_and_connection_close_are_not_reused() -> None:
    async def answer(_request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n")
        await writer.drain()
        return False

    async with serving(answer) as (server, url, wire):
        for _ in range(2):
            response = await wire.post(url, HEADERS, b"{}")
            assert await response.read() == b"data: x\n\n"
        assert server.connections == 2
    async with serving(fixed(b"{}", extra=b"Connection: close\r\n")) as (server, url, wire):
        for _ in range(2):
            await (await wire.post(url, HEADERS, b"{}")).read()
        assert server.connections == 2


async def test_errors_and_100_continue() -> None:
    async def answer(_request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await fixed(b'{"error": {}}', "429 Too Many Requests", b"Retry-After: 3\r\n")(
            _request, writer
        )
        return True

    async with serving(answer) as (_server, url, wire):
        response = await wire.post(url, HEADERS, b"{}")
        assert response.status == 429 and response.header("retry-after") == "3"
        assert await response.read() == b'{"error": {}}'


async def test_a_pooled_connection_the_server_closed_is_replaced_once() -> None:
    calls = 0

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal calls
        calls += 1
        await fixed(b"{}")(request, writer)
        return False  # closes after each answer, though it announced keep-alive

    async with serving(answer) as (server, url, wire):
        for i in range(4):
            response = await wire.post(url, HEADERS, b"{}")
            assert await response.read() == b"{}"
            if i % 2:  # the close is seen before the next request, or only when it fails
                await asyncio.sleep(0.01)
        assert calls == 4 and server.connections == 4


async def test_a_stream_left_early_closes_its_connection() -> None:
    async def answer(_request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        await writer.drain()
        return True

    async with serving(answer) as (server, url, wire):
        response = await wire.post(url, HEADERS, b"{}")
        assert await anext(aiter(response.chunks())) == b"x" * 10
        await response.aclose()
        await wire.post(url, HEADERS, b"{}")
        assert server.connections == 2


async def test_broken_bodies_timeouts_and_refused_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    async def short(_request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        return False

    async with serving(short) as (_server, url, wire):
        response = await wire.post(url, HEADERS, b"{}")
        with pytest.raises(WireError) as broken:
            await response.read()
        assert broken.value.kind == "connection"

    async def silent(_request: bytes, _writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    monkeypatch.setattr(_socket_wire, "TIMEOUT_S", 0.05)
    async with serving(silent) as (_server, url, wire):
        with pytest.raises(WireError) as slow:
            await wire.post(url, HEADERS, b"{}")
        assert slow.value.kind == "timeout"

    refused = SocketWire(policy=netguard.NetworkPolicy.parse([]))
    with pytest.raises(WireError) as blocked:
        await refused.post("http://127.0.0.1:9/v1/chat/completions", HEADERS, b"{}")
    assert blocked.value.kind == "blocked"
    with pytest.raises(WireError) as scheme:
        await refused.post("ftp://example.org/x", HEADERS, b"{}")
    assert scheme.value.kind == "blocked"


def _certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (and its key), made here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_checks_the_certificate_for_the_host_name(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = Server(fixed(b'{"tls": true}'))
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_tls)
    port = listener.sockets[0].getsockname()[1]
    policy = netguard.NetworkPolicy.parse([f"localhost:{port}", f"127.0.0.1:{port}"])
    try:
        trusting = SocketWire(policy=policy, tls=ssl.create_default_context(cafile=str(cert)))
        url = f"https://localhost:{port}/v1/chat/completions"
        for _ in range(2):
            response = await trusting.post(url, HEADERS, b"{}")
            assert await response.read() == b'{"tls": true}'
        assert server.connections == 1  # pooled over TLS too
        await trusting.aclose()
        # The certificate names localhost, not the address: refused.
        strict = SocketWire(policy=policy, tls=ssl.create_default_context(cafile=str(cert)))
        with pytest.raises(WireError) as wrong_name:
            await strict.post(f"https://127.0.0.1:{port}/v1/chat/completions", HEADERS, b"{}")
        assert wrong_name.value.kind == "connection"
        # Without the certificate's issuer in its trust (the platform's default): refused.
        default = SocketWire(policy=policy)
        with pytest.raises(WireError):
            await default.post(url, HEADERS, b"{}")
    finally:
        listener.close()
