"""PDF (pypdf, one section per page) and DOCX (python-docx, sections under headings).

Offsets point into the extracted text: section texts joined by a blank line.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable

from agentdeck.rag.errors import LoadError
from agentdeck.rag.loaders._guards import LoadLimits
from agentdeck.rag.types import Section

_SEPARATOR = "\n\n"
_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre|título)\s*(\d)$", re.IGNORECASE)


def _with_offsets(parts: Iterable[tuple[str, list[str], int | None]]) -> list[Section]:
    """Sections with offsets as if their texts were joined by `_SEPARATOR`."""
    sections: list[Section] = []
    cursor = 0
    for raw, path, page in parts:
        text = raw.strip()
        if not text:
            continue
        sections.append(Section(text, path, page, cursor, cursor + len(text)))
        cursor += len(text) + len(_SEPARATOR)
    return sections


def load_pdf(data: bytes, limits: LoadLimits) -> list[Section]:
    """One section per page, `page` numbered from 1.

    Raises `LoadError` for a damaged or encrypted file, too many pages, or a PDF with no
    extractable text (a scan: OCR is not done here).
    """
    if b"%PDF-" not in data[:1024]:
        raise LoadError("wrong_type", "This is not a PDF file (no %PDF header).")
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted", "The PDF is password-protected; upload it unlocked.")
        count = len(reader.pages)
        if count > limits.max_pages:
            raise LoadError(
                "too_large", f"The PDF has {count:,} pages (limit {limits.max_pages:,})."
            )
        pages: list[tuple[str, list[str], int | None]] = [
            (page.extract_text() or "", [], i + 1) for i, page in enumerate(reader.pages)
        ]
    except LoadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise LoadError("corrupt", f"The PDF is damaged and cannot be read: {exc}.") from exc
    except Exception as exc:  # pypdf raises many ad-hoc errors on hostile input
        raise LoadError("corrupt", f"The PDF cannot be read: {type(exc).__name__}.") from exc
    sections = _with_offsets(pages)
    if not sections:
        raise LoadError("no_text", "The PDF has no text layer (a scan?); OCR is not supported.")
    return sections


def _heading_level(style_name: str) -> int | None:
    if style_name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(style_name.strip())
    return int(match.group(1)) if match else None


def load_docx(data: bytes) -> list[Section]:
    """Body text grouped under the document's heading styles; tables become ``a | b`` rows.

    The zip container must have passed `check_zip` first.
    """
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
    except Exception as exc:  # python-docx/lxml raise many error types on bad input
        raise LoadError("corrupt", f"The .docx file cannot be read: {type(exc).__name__}.") from exc
    parts: list[tuple[str, list[str], int | None]] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            parts.append(("\n".join(buffer), [t for _, t in path], None))
            buffer.clear()

    for block in blocks:
        if isinstance(block, Table):
            for row in block.rows:
                cells = [cell.text.strip() for cell in row.cells]
                buffer.append(" | ".join(cells))
            continue
        text = block.text.strip()
        style = block.style.name if block.style is not None and block.style.name else ""
        level = _heading_level(style)
        if level is not None and text:
            flush()
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, text))
        elif text:
            buffer.append(text)
    flush()
    return _with_offsets(parts)
