"""Document loaders: bytes in, structured text sections out.

`load_document` picks the format from the file name or media type, checks size and zip-bomb
limits before parsing, and parses in a worker thread so the event loop never blocks. Every
failure is a `LoadError` with a stable `reason`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import PurePath

from agentdeck.rag.errors import LoadError
from agentdeck.rag.loaders._guards import LoadLimits, check_size, check_zip, decode_text
from agentdeck.rag.loaders._office import load_docx, load_pdf
from agentdeck.rag.loaders._records import load_csv, load_json
from agentdeck.rag.loaders.text import load_html, load_markdown, load_txt
from agentdeck.rag.types import Section

__all__ = ["FORMATS", "LoadLimits", "detect_format", "load_document", "load_document_sync"]

FORMATS = ("txt", "md", "html", "pdf", "docx", "csv", "json")

_EXTENSIONS = {
    "txt": "txt", "text": "txt", "log": "txt", "md": "md", "markdown": "md", "htm": "html",
    "html": "html", "xhtml": "html", "pdf": "pdf", "docx": "docx", "csv": "csv", "tsv": "csv",
    "json": "json", "jsonl": "json", "ndjson": "json",
}  # fmt: skip
_MEDIA_TYPES = {
    "text/plain": "txt", "text/markdown": "md", "text/x-markdown": "md", "text/html": "html",
    "application/xhtml+xml": "html", "application/pdf": "pdf", "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/json": "json", "application/x-ndjson": "json",
}  # fmt: skip


def detect_format(filename: str | None = None, content_type: str | None = None) -> str:
    """The loader format for a file name or media type; raises `LoadError("unsupported_type")`."""
    if filename:
        suffix = PurePath(filename).suffix.lower().lstrip(".")
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in _MEDIA_TYPES:
            return _MEDIA_TYPES[media]
    shown = filename or content_type or "unknown"
    raise LoadError(
        "unsupported_type",
        f"Cannot read {shown!r}; supported formats are {', '.join(FORMATS)}.",
    )


def _parser(fmt: str, limits: LoadLimits) -> Callable[[bytes], list[Section]]:
    text_parsers: dict[str, Callable[[str], list[Section]]] = {
        "txt": load_txt,
        "md": load_markdown,
        "html": load_html,
        "csv": lambda text: load_csv(text, limits),
        "json": lambda text: load_json(text, limits),
    }
    if fmt == "pdf":
        return lambda data: load_pdf(data, limits)
    if fmt == "docx":

        def docx(data: bytes) -> list[Section]:
            check_zip(data, limits)
            return load_docx(data)

        return docx
    parse_text = text_parsers[fmt]
    return lambda data: parse_text(decode_text(data))


def load_document_sync(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    limits: LoadLimits | None = None,
) -> list[Section]:
    """Blocking version of `load_document`, for worker threads and benchmarks."""
    limits = limits or LoadLimits()
    fmt = detect_format(filename, content_type)
    check_size(data, limits)
    try:
        sections = _parser(fmt, limits)(data)
    except (LoadError, ImportError):
        raise
    except Exception as exc:  # hostile input must never escape as anything but LoadError
        raise LoadError("corrupt", f"The {fmt} file cannot be parsed: {exc}.") from exc
    if not sections:
        raise LoadError("no_text", f"The {fmt} file contains no text.")
    return sections


async def load_document(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    limits: LoadLimits | None = None,
) -> list[Section]:
    """Extract text sections from an uploaded file, off the event loop.

    The format comes from `filename`'s extension, else `content_type`.
    Raises `LoadError` (never anything else) for empty, oversized, unsupported, mistyped,
    corrupt, encrypted or zip-bomb input.
    """
    return await asyncio.to_thread(
        load_document_sync, data, filename=filename, content_type=content_type, limits=limits
    )
