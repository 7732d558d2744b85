"""Reading a document from the request: a multipart upload (``file``), text, or a URL.

Size and type limits come from the knowledge settings: too large is 413, a type that is not
allowed (extension or MIME type) is 415, both naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from agentdeck.errors import InvalidInput
from agentdeck.kit.text import NUL, dotted, nul_path
from agentdeck.knowledge._fetch import fetch_page
from agentdeck.knowledge.schemas import DocumentJson
from agentdeck.knowledge.service import PayloadTooLarge, UnsupportedMediaType
from agentdeck.knowledge.settings import KnowledgeSettings
from agentdeck.rag.errors import LoadError
from agentdeck.rag.loaders import detect_format
from agentdeck.runtime import Runtime

_GENERIC_MEDIA = {"", "application/octet-stream", "binary/octet-stream"}
_FOREIGN_MEDIA = ("image/", "audio/", "video/", "font/", "model/")


@dataclass
class Incoming:
    """A document to add: its bytes and what we know about them."""

    data: bytes
    filename: str
    mime_type: str | None
    title: str
    source_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def check_type(
    filename: str, mime_type: str | None, settings: KnowledgeSettings, where: str
) -> str:
    """The document's format; 415 (naming ``where``) when its extension or MIME type is not
    an allowed one, or when they contradict each other."""
    media = (mime_type or "").split(";", 1)[0].strip().lower()
    if media.startswith(_FOREIGN_MEDIA):
        raise UnsupportedMediaType(f"{media} files cannot be indexed", field=where)
    by_name: str | None
    try:
        by_name = detect_format(filename, None) if PurePath(filename).suffix else None
    except LoadError:
        by_name = None
    by_media: str | None
    try:
        by_media = detect_format(None, media) if media not in _GENERIC_MEDIA else None
    except LoadError:
        by_media = None
    fmt = by_name or by_media
    if fmt is None:
        raise UnsupportedMediaType(
            f"cannot index {filename!r} ({media or 'no type'}); allowed: "
            f"{', '.join(settings.allowed_formats)}",
            field=where,
        )
    if by_name and by_media and by_name != by_media and not media.startswith("text/plain"):
        raise UnsupportedMediaType(
            f"the type {media} does not match the extension of {filename!r}", field=where
        )
    if fmt not in settings.allowed_formats:
        raise UnsupportedMediaType(
            f"{fmt} documents are not allowed here; allowed: {', '.join(settings.allowed_formats)}",
            field=where,
        )
    return fmt


def _too_large(size: int, settings: KnowledgeSettings, where: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the document is {size:,} bytes or more; the limit is {settings.max_upload_bytes:,} bytes",
        field=where,
    )


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError as exc:
        raise InvalidInput("metadata must be a JSON object", field="metadata") from exc
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float | bool) for v in value.values()
    ):
        raise InvalidInput("metadata must be a JSON object of scalar values", field="metadata")
    path = nul_path(value)
    if path is not None:
        raise InvalidInput(
            "metadata must not contain NUL characters", field=dotted(["metadata", *path])
        )
    return value


async def from_multipart(request: Request, settings: KnowledgeSettings) -> Incoming:
    """The upload in the multipart field ``file`` (with optional ``title`` and ``metadata``)."""
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("send the document in the multipart field `file`", field="file")
    filename = PurePath((upload.filename or "").replace("\\", "/")).name.strip()
    if not filename:
        raise InvalidInput("the uploaded file needs a file name", field="file")
    title = form.get("title")
    for where, text in (("file", filename), ("title", title)):
        if isinstance(text, str) and NUL in text:
            raise InvalidInput(f"{where} must not contain NUL characters", field=where)
    check_type(filename, upload.content_type, settings, "file")
    data = await upload.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise _too_large(len(data), settings, "file")
    return Incoming(
        data=data,
        filename=filename[:500],
        mime_type=upload.content_type,
        title=title.strip()[:500] if isinstance(title, str) and title.strip() else filename,
        metadata=_metadata(form.get("metadata")),
    )


async def from_json(request: Request, runtime: Runtime, settings: KnowledgeSettings) -> Incoming:
    """``{"title", "text"}`` (indexed as Markdown) or ``{"url"}`` (that one page, fetched)."""
    try:
        body = DocumentJson.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        raise RequestValidationError(errors) from exc
    metadata = dict(body.metadata or {})
    if body.text is not None:
        data = body.text.encode("utf-8")
        if len(data) > settings.max_upload_bytes:
            raise _too_large(len(data), settings, "text")
        check_type("document.md", "text/markdown", settings, "text")
        title = (body.title or "").strip()
        return Incoming(data, "document.md", "text/markdown", title, metadata=metadata)
    assert body.url is not None
    page = await fetch_page(runtime.http(), body.url.strip(), settings)
    if page.too_large:
        raise _too_large(settings.max_upload_bytes + 1, settings, "url")
    check_type(page.filename, page.content_type, settings, "url")
    title = (body.title or "").strip() or page.title
    return Incoming(
        page.data, page.filename, page.content_type, title, source_url=page.url, metadata=metadata
    )
