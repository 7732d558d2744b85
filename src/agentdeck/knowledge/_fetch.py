"""Fetching the one web page of a URL document, guarded against the private network.

Every hop (the URL and each redirect) must be http(s) and resolve only to public addresses
or hosts the network policy allows (``AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS``), unless
``knowledge.allow_private_urls``. The body is read up to the upload limit. Text
extraction (trafilatura) happens later, in the ingestion job, like for an uploaded .html.

Each request connects to the address that was checked (`kit.netguard`), so a DNS answer
that changes between the check and the connection cannot reach a private address.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx2

from agentdeck.errors import InvalidInput
from agentdeck.kit import netguard
from agentdeck.knowledge.settings import KnowledgeSettings

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_EXTENSION_OF = {
    "text/html": ".html", "application/xhtml+xml": ".html", "text/plain": ".txt",
    "text/markdown": ".md", "application/pdf": ".pdf", "application/json": ".json",
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}  # fmt: skip


class FetchRefused(InvalidInput):
    """The URL cannot be fetched; the detail says why (422, field ``url``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="url")


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    data: bytes
    content_type: str | None
    filename: str
    title: str
    too_large: bool = False


async def check_url(url: str, *, allow_private: bool) -> str | None:
    """Refuse non-http(s) URLs and, unless allowed, hosts with a non-public address the
    network policy does not allow; the checked address to connect to (None when private
    networks are allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("only http and https URLs with a host can be fetched")
    if allow_private:
        return None
    try:
        return await netguard.public_address(url)
    except netguard.Unresolvable as exc:
        raise FetchRefused(f"the host {parts.hostname!r} does not resolve") from exc
    except netguard.PrivateAddress as exc:
        raise FetchRefused(
            f"the host {parts.hostname!r} has a private, loopback or link-local address; "
            f"an operator can allow it with {netguard.SETTING}"
        ) from exc


def _name_and_title(url: str, content_type: str | None, data: bytes) -> tuple[str, str]:
    path = PurePosixPath(unquote(urlsplit(url).path))
    media = (content_type or "").split(";", 1)[0].strip().lower()
    extension = _EXTENSION_OF.get(media, "")
    stem = path.stem or urlsplit(url).hostname or "page"
    filename = (stem + extension) if extension else (path.name or "page.html")
    title = url
    if extension == ".html":
        found = _TITLE.search(data[:200_000])
        if found:
            text = html.unescape(found.group(1).decode("utf-8", "replace")).strip()
            title = " ".join(text.split())[:500] or url
    return filename[:200], title


async def fetch_page(client: httpx2.AsyncClient, url: str, settings: KnowledgeSettings) -> Page:
    """GET one page (following at most ``max_redirects`` checked redirects).

    Raises :class:`FetchRefused` for a refused address, a network error or an error status.
    A body over the upload limit comes back with ``too_large`` set (the caller answers 413).
    """
    limit = settings.max_upload_bytes
    for _ in range(settings.max_redirects + 1):
        pin = await check_url(url, allow_private=settings.allow_private_urls)
        request = netguard.pinned(url, pin)
        try:
            async with client.stream(
                "GET", request.url, headers=request.headers, extensions=request.extensions,
                follow_redirects=False, timeout=settings.url_timeout_s,
            ) as response:  # fmt: skip
                if response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("location")
                    if not location:
                        raise FetchRefused(f"{url} redirects without a Location")
                    url = urljoin(url, location)
                    continue
                if response.status_code >= 400:
                    raise FetchRefused(f"{url} answered HTTP {response.status_code}")
                body = bytearray()
                async for part in response.aiter_bytes():
                    body.extend(part)
                    if len(body) > limit:
                        return Page(url, b"", None, "", url, too_large=True)
                content_type = response.headers.get("content-type")
        except httpx2.HTTPError as exc:
            raise FetchRefused(f"{url} could not be fetched: {type(exc).__name__}") from exc
        data = bytes(body)
        filename, title = _name_and_title(url, content_type, data)
        return Page(url, data, content_type, filename, title)
    raise FetchRefused(f"more than {settings.max_redirects} redirects")
