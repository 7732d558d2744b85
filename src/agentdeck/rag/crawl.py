"""A polite, single-host website crawler for knowledge sources.

`crawl` walks a site breadth-first from a start URL and yields one event per URL it decides
about: a `CrawledPage` (HTML fetched and its main text extracted with trafilatura, through the
same `load_html` the document loaders use), a `PageSkipped` (robots.txt, not HTML, noindex)
or a `PageError` (HTTP status, timeout, too large, network). A failing page never stops the
crawl; only a start URL that cannot be crawled at all raises `CrawlError`.

Rules it keeps:

- **Same origin only**: scheme, host and port of the start URL. Redirects to another origin are
  not followed; a redirect within the origin is queued like a link at the same depth.
- **Limits**: `max_pages` counts every page request (errors and non-HTML included, robots.txt
  excluded); `max_depth` counts links from the start URL (depth 0).
- **Patterns** are shell globs (``fnmatch``, case-sensitive) matched against the URL *path*
  only, e.g. ``/docs/*`` or ``*.html``; ``*`` also matches ``/``. A link is followed when it
  matches no `exclude` pattern and, if `include` is non-empty, at least one `include` pattern.
  The start URL itself is always crawled.
- **Politeness**: one request at a time, at least `delay` seconds apart, or robots.txt's
  ``Crawl-delay`` / ``Request-rate`` for the ``agentdeck`` user agent when that is longer.
  robots.txt is read with `urllib.robotparser`; per RFC 9309 a 4xx robots.txt allows
  everything and an unreachable one (5xx, network error) disallows everything.
- **Change detection**: `content_hash` is the SHA-256 of the extracted text; a page whose hash
  equals `known_hashes[url]` is yielded with ``changed=False`` (its links are still followed).
- **Safety**: responses are streamed and cut at `max_bytes`; the body of a non-HTML response is
  never read. Hosts that resolve to loopback, private, link-local or otherwise non-global
  addresses are refused unless the process's network policy allows them (`kit.netguard`:
  ``AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS``) or `allow_private` is set. The host is
  resolved once, at the start, and every request connects to that checked address (Host
  header and TLS name kept), so a DNS answer that changes mid-crawl cannot redirect the
  crawler (DNS rebinding).

The caller owns the `httpx.AsyncClient` (timeouts, proxies, transport); redirects are handled
here, so its `follow_redirects` setting does not matter. Parsing runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import re
import string
import time
import urllib.robotparser
from collections import deque
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx

from agentdeck.kit import netguard
from agentdeck.rag.errors import RagError
from agentdeck.rag.loaders.text import load_html

__all__ = [
    "USER_AGENT",
    "CrawlError",
    "CrawlEvent",
    "CrawlOptions",
    "CrawlReport",
    "CrawledPage",
    "PageError",
    "PageSkipped",
    "canonical_url",
    "crawl",
    "crawl_all",
    "path_allowed",
    "validate_start_url",
]

USER_AGENT = "agentdeck"
_HEADERS = {
    "User-Agent": f"{USER_AGENT}/0.1 (knowledge crawler)",
    "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
}
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_LENGTH = 2048
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")

Resolver = netguard.Resolver
"""host, port -> the addresses it resolves to (raises OSError when it does not resolve)."""

ErrorKind = Literal["http_status", "timeout", "too_large", "network", "redirect", "parse"]
SkipReason = Literal["robots", "not_html", "noindex", "no_text", "offsite_redirect"]


class CrawlError(RagError):
    """The crawl cannot start: bad start URL, refused address, unresolvable host.

    `reason` is one of ``invalid_url``, ``scheme``, ``private_address``, ``dns``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    """How far and how politely to crawl. Defaults suit a small documentation site."""

    max_pages: int = 100
    max_depth: int = 3
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    delay: float = 1.0
    timeout: float = 20.0
    max_bytes: int = 5 * 1024 * 1024
    allow_private: bool = False
    resolver: Resolver | None = None
    """How host names are resolved when `allow_private` is off (the system's by default)."""


@dataclass(frozen=True, slots=True)
class CrawledPage:
    """An HTML page that was fetched and extracted.

    `html` is the raw body (for storage and re-extraction), `text` the extracted main text.
    """

    url: str
    depth: int
    title: str
    html: bytes
    text: str
    content_hash: str
    content_type: str
    changed: bool
    kind: Literal["page"] = "page"


@dataclass(frozen=True, slots=True)
class PageSkipped:
    """A URL deliberately not turned into a page."""

    url: str
    reason: SkipReason
    kind: Literal["skipped"] = "skipped"


@dataclass(frozen=True, slots=True)
class PageError:
    """A URL that failed; `status_code` is set for ``http_status`` errors."""

    url: str
    error: ErrorKind
    detail: str
    status_code: int | None = None
    kind: Literal["error"] = "error"


CrawlEvent = CrawledPage | PageSkipped | PageError


@dataclass(slots=True)
class CrawlReport:
    """Every event of a finished crawl, grouped."""

    pages: list[CrawledPage] = field(default_factory=list)
    skipped: list[PageSkipped] = field(default_factory=list)
    errors: list[PageError] = field(default_factory=list)

    @property
    def changed(self) -> list[CrawledPage]:
        return [page for page in self.pages if page.changed]

    @property
    def unchanged(self) -> list[CrawledPage]:
        return [page for page in self.pages if not page.changed]


# --- URLs -------------------------------------------------------------------------------------


def canonical_url(url: str, base: str | None = None) -> str | None:
    """`url` (resolved against `base`) in canonical form, or None if it is not http(s).

    Lower-cases scheme and host, drops the default port, the fragment and any user info,
    removes dot segments and repeated slashes, makes an empty path ``/`` and normalises
    percent-escapes (unreserved characters decoded, the rest upper-case, bare unsafe
    characters escaped). The query string is kept as it is.
    """
    url = url.strip()
    if base is not None:
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host or len(url) > _MAX_URL_LENGTH:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    normalised = posixpath.normpath(path)
    if path.endswith("/") and not normalised.endswith("/"):
        normalised += "/"
    path = "/" + normalised.lstrip("/")
    path = quote(_ESCAPE.sub(_unescape, path), safe="/:@!$&'()*+,;=%")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def _unescape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def path_allowed(path: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether a URL path passes the glob `include`/`exclude` patterns (see module docs)."""
    if any(fnmatchcase(path, pattern) for pattern in exclude):
        return False
    return not include or any(fnmatchcase(path, pattern) for pattern in include)


def validate_start_url(url: str) -> str:
    """The canonical form of a crawl start URL; raises `CrawlError` if it cannot be one.

    Reasons: ``scheme`` (not http/https), ``invalid_url`` (no host, credentials, too long,
    malformed).
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise CrawlError("invalid_url", f"The URL is malformed: {exc}.") from exc
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise CrawlError("scheme", "Only http and https URLs can be crawled.")
    if not parts.hostname:
        raise CrawlError("invalid_url", "The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise CrawlError("invalid_url", "The URL must not contain credentials.")
    canonical = canonical_url(url)
    if canonical is None:
        raise CrawlError("invalid_url", f"The URL is malformed or longer than {_MAX_URL_LENGTH}.")
    return canonical


async def _pinned_address(url: str, resolver: Resolver | None) -> str:
    """The one public address every request of the crawl connects to (see
    `kit.netguard`): a DNS answer that changes mid-crawl cannot steer it elsewhere."""
    try:
        return await netguard.public_address(url, resolver)
    except netguard.Unresolvable as exc:
        host = urlsplit(url).hostname or ""
        raise CrawlError("dns", f"The host {host!r} cannot be resolved.") from exc
    except netguard.PrivateAddress as exc:
        host = urlsplit(url).hostname or ""
        raise CrawlError(
            "private_address",
            f"The host {host!r} resolves to a loopback, private or otherwise non-public "
            f"address; an operator can allow it with {netguard.SETTING}.",
        ) from exc


def _pinned_request(url: str, pin: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and httpx extensions of a request to ``url`` sent to address ``pin``."""
    request = netguard.pinned(url, pin)
    return request.url, {**_HEADERS, **request.headers}, request.extensions


# --- parsing (worker thread) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    title: str
    text: str
    links: list[str]
    noindex: bool
    nofollow: bool


def _decode(body: bytes, content_type: str) -> str:
    charset = "utf-8"
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _parse(body: bytes, content_type: str, url: str) -> _Parsed:
    """Links, robots meta, title and main text of one HTML page (blocking)."""
    from lxml import html as lxml_html
    from lxml.etree import ParserError

    source = _decode(body, content_type)
    title, links, noindex, nofollow = "", [], False, False
    try:
        root = lxml_html.document_fromstring(source.encode("utf-8"))
    except (ParserError, ValueError):
        root = None
    if root is not None:
        base = url
        for href in root.xpath("//base/@href"):
            base = urljoin(url, str(href).strip())
            break
        title = " ".join(str(t) for t in root.xpath("//title/text()")).strip()
        for content in root.xpath("//meta[translate(@name,'ROBTS','robts')='robots']/@content"):
            directives = {d.strip().lower() for d in str(content).split(",")}
            noindex = noindex or bool(directives & {"noindex", "none"})
            nofollow = nofollow or bool(directives & {"nofollow", "none"})
        for anchor in root.xpath("//a[@href]|//area[@href]"):
            if "nofollow" in str(anchor.get("rel", "")).lower().split():
                continue
            link = canonical_url(str(anchor.get("href")), base)
            if link is not None:
                links.append(link)
    try:
        sections = load_html(source)
    except Exception:  # trafilatura on hostile markup: the page simply has no text
        sections = []
    text = "\n\n".join(
        "\n".join([*(f"{'#' * (i + 1)} {h}" for i, h in enumerate(s.heading_path)), s.text])
        for s in sections
    )
    return _Parsed(" ".join(title.split())[:500], text, links, noindex, nofollow)


def _hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


# --- fetching ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fetched:
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: str


class _Pacer:
    """Keeps requests at least `delay` seconds apart."""

    def __init__(self, delay: float) -> None:
        self.delay = max(delay, 0.0)
        self._last: float | None = None

    async def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.delay - time.monotonic()
            if remaining > 0:
                await asyncio.sleep(remaining)
        self._last = time.monotonic()


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    options: CrawlOptions,
    pin: str | None,
    *,
    html_only: bool = True,
) -> _Fetched | _Redirect | PageError | PageSkipped:
    target, headers, extensions = _pinned_request(url, pin)
    try:
        async with client.stream(
            "GET",
            target,
            headers=headers,
            extensions=extensions,
            timeout=options.timeout,
            follow_redirects=False,
        ) as response:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    return PageError(url, "redirect", "Redirect without a Location header.")
                return _Redirect(location)
            if response.status_code >= 400:
                return PageError(
                    url,
                    "http_status",
                    f"HTTP {response.status_code}",
                    status_code=response.status_code,
                )
            content_type = response.headers.get("content-type", "")
            media = content_type.split(";", 1)[0].strip().lower()
            if html_only and media not in _HTML_TYPES:
                return PageSkipped(url, "not_html")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > options.max_bytes:
                return _too_large(url, options)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > options.max_bytes:
                    return _too_large(url, options)
                chunks.append(chunk)
            return _Fetched(b"".join(chunks), content_type)
    except httpx.TimeoutException:
        return PageError(url, "timeout", f"No complete answer within {options.timeout:g} s.")
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return PageError(url, "network", f"{type(exc).__name__}: {exc}"[:500])


def _too_large(url: str, options: CrawlOptions) -> PageError:
    return PageError(url, "too_large", f"The page is larger than {options.max_bytes:,} bytes.")


async def _robots(
    client: httpx.AsyncClient,
    origin_url: str,
    options: CrawlOptions,
    pacer: _Pacer,
    pin: str | None,
) -> tuple[urllib.robotparser.RobotFileParser, PageError | None]:
    """robots.txt of the origin; per RFC 9309, 4xx allows all and unreachable disallows all."""
    parser = urllib.robotparser.RobotFileParser()
    robots_url = urljoin(origin_url, "/robots.txt")
    parser.set_url(robots_url)
    await pacer.wait()
    fetched = await _fetch(client, robots_url, options, pin, html_only=False)
    if isinstance(fetched, _Redirect):
        target = canonical_url(fetched.location, robots_url)
        if target is not None and _origin(target) == _origin(robots_url):
            await pacer.wait()
            fetched = await _fetch(client, target, options, pin, html_only=False)
    if isinstance(fetched, _Fetched):
        parser.parse(_decode(fetched.body, fetched.content_type).splitlines())
        return parser, None
    if isinstance(fetched, PageError) and fetched.status_code and fetched.status_code < 500:
        parser.parse([])  # no rules: everything allowed
        return parser, None
    parser.parse(["User-agent: *", "Disallow: /"])
    detail = fetched.detail if isinstance(fetched, PageError) else "robots.txt unreadable"
    return parser, PageError(robots_url, "network", f"robots.txt unreachable: {detail}")


def _robots_delay(parser: urllib.robotparser.RobotFileParser) -> float:
    delay = float(parser.crawl_delay(USER_AGENT) or 0)
    rate = parser.request_rate(USER_AGENT)
    if rate is not None and rate.requests > 0:
        delay = max(delay, rate.seconds / rate.requests)
    return delay


# --- the crawl --------------------------------------------------------------------------------


async def crawl(
    client: httpx.AsyncClient,
    start_url: str,
    options: CrawlOptions | None = None,
    *,
    known_hashes: Mapping[str, str] | None = None,
) -> AsyncGenerator[CrawlEvent, None]:
    """Crawl one site breadth-first, yielding an event per URL (see the module docs).

    Raises `CrawlError` before the first request if `start_url` is not a crawlable http(s)
    URL or resolves to a non-public address (unless `options.allow_private`).
    """
    options = options or CrawlOptions()
    known = known_hashes or {}
    start = validate_start_url(start_url)
    pin = None if options.allow_private else await _pinned_address(start, options.resolver)
    origin = _origin(start)
    pacer = _Pacer(options.delay)
    robots, robots_error = await _robots(client, start, options, pacer, pin)
    if robots_error is not None:
        yield robots_error
    pacer.delay = max(pacer.delay, _robots_delay(robots))

    queue: deque[tuple[str, int]] = deque([(start, 0)])
    seen = {start}
    requests = 0
    while queue and requests < options.max_pages:
        url, depth = queue.popleft()
        if not robots.can_fetch(USER_AGENT, url):
            yield PageSkipped(url, "robots")
            continue
        await pacer.wait()
        requests += 1
        event, links, link_depth = await _visit(client, url, depth, options, known, origin, pin)
        if event is not None:
            yield event
        if link_depth > options.max_depth:
            continue
        for link in links:
            if link in seen or _origin(link) != origin:
                continue
            if not path_allowed(urlsplit(link).path, options.include, options.exclude):
                continue
            seen.add(link)
            queue.append((link, link_depth))


async def _visit(
    client: httpx.AsyncClient,
    url: str,
    depth: int,
    options: CrawlOptions,
    known: Mapping[str, str],
    origin: tuple[str, str],
    pin: str | None,
) -> tuple[CrawlEvent | None, list[str], int]:
    """Fetch and parse one URL: its event (if any), its links and the depth they sit at."""
    fetched = await _fetch(client, url, options, pin)
    if isinstance(fetched, _Redirect):
        target = canonical_url(fetched.location, url)
        if target is None or _origin(target) != origin:
            return PageSkipped(url, "offsite_redirect"), [], 0
        return None, [target], depth  # the target sits at the depth of the URL pointing to it
    if isinstance(fetched, PageError | PageSkipped):
        return fetched, [], 0
    try:
        parsed = await asyncio.to_thread(_parse, fetched.body, fetched.content_type, url)
    except Exception as exc:  # a hostile page fails alone, never the crawl
        return PageError(url, "parse", f"{type(exc).__name__}: {exc}"[:500]), [], 0
    links = [] if parsed.nofollow else parsed.links
    if parsed.noindex:
        return PageSkipped(url, "noindex"), links, depth + 1
    if not parsed.text.strip():
        return PageSkipped(url, "no_text"), links, depth + 1
    digest = _hash(parsed.text)
    page = CrawledPage(
        url=url,
        depth=depth,
        title=parsed.title or url,
        html=fetched.body,
        text=parsed.text,
        content_hash=digest,
        content_type=fetched.content_type,
        changed=known.get(url) != digest,
    )
    return page, links, depth + 1


async def crawl_all(
    client: httpx.AsyncClient,
    start_url: str,
    options: CrawlOptions | None = None,
    *,
    known_hashes: Mapping[str, str] | None = None,
) -> CrawlReport:
    """Run `crawl` to the end and group its events; raises what `crawl` raises."""
    report = CrawlReport()
    async for event in crawl(client, start_url, options, known_hashes=known_hashes):
        if isinstance(event, CrawledPage):
            report.pages.append(event)
        elif isinstance(event, PageSkipped):
            report.skipped.append(event)
        else:
            report.errors.append(event)
    return report
