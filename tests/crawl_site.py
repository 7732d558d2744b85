"""A tiny website served by a real HTTP server on 127.0.0.1, for crawler tests.

Routes map a path (with query) to a `Route`; every request is logged so tests can assert what
was (not) fetched and when. Routes can be changed while the server runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    sleep: float = 0.0
    send_length: bool = True  # False: no Content-Length, the body ends when the server closes


def page(title: str, body: str, links: Sequence[str] = ()) -> Route:
    """An HTML page with a title, a paragraph of text and links."""
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return Route(
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><ul>{anchors}</ul></nav><main><h1>{title}</h1><p>{body}</p></main>"
        "</body></html>"
    )


@dataclass
class Site:
    routes: dict[str, Route]
    base: str = ""
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (time, path, user agent)

    @property
    def paths(self) -> list[str]:
        return [path for _, path, _ in self.log]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.log.append((time.monotonic(), self.path, self.headers.get("User-Agent", "")))
            route = site.routes.get(self.path)
            if route is None:
                route = Route("<html><body><p>Not found</p></body></html>", status=404)
            if route.sleep:
                time.sleep(route.sleep)
            body = route.body.encode() if isinstance(route.body, str) else route.body
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                if route.send_length:
                    self.send_header("Content-Length", str(len(body)))
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the crawler hung up (too large, not HTML): expected

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[Site]:
    """Serve `routes` on 127.0.0.1 (random port) for the duration of the block."""
    site = Site(routes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
