"""Limits checked before any parser sees the bytes, and text decoding."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from agentdeck.rag.errors import LoadError


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Upper bounds on what a loader accepts. Defaults suit a knowledge-base upload."""

    max_bytes: int = 50 * 1024 * 1024
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: float = 100.0
    max_zip_entries: int = 10_000
    max_pages: int = 5_000
    max_records: int = 200_000


def check_size(data: bytes, limits: LoadLimits) -> None:
    """Raise `LoadError` for empty or oversized input."""
    if not data or not data.strip():
        raise LoadError("empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise LoadError(
            "too_large",
            f"The file is {len(data):,} bytes; the limit is {limits.max_bytes:,} bytes.",
        )


def check_zip(data: bytes, limits: LoadLimits) -> None:
    """Refuse a zip container (docx) that is not a zip or would inflate too much.

    Reads only the central directory: sizes are declared there, so nothing is decompressed.
    """
    if not data.startswith(b"PK\x03\x04"):
        raise LoadError("wrong_type", "This is not a .docx file (no zip container).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise LoadError("corrupt", f"The .docx container is damaged: {exc}.") from exc
    if len(infos) > limits.max_zip_entries:
        raise LoadError("zip_bomb", f"The archive holds {len(infos):,} entries; refusing it.")
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        raise LoadError(
            "zip_bomb",
            f"The archive would inflate to {total:,} bytes "
            f"(limit {limits.max_uncompressed_bytes:,}); refusing it.",
        )
    if total > 1024 * 1024 and total / max(packed, 1) > limits.max_compression_ratio:
        raise LoadError(
            "zip_bomb",
            f"The archive's compression ratio is {total / max(packed, 1):.0f}:1 "
            f"(limit {limits.max_compression_ratio:.0f}:1); refusing it.",
        )


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (with or without BOM), else Windows-1252.

    Raises `LoadError("wrong_type")` for binary content (NUL bytes).
    """
    if b"\x00" in data[:8192]:
        raise LoadError("wrong_type", "This looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")
