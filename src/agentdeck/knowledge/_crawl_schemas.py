"""Shapes of website sources and crawl runs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentdeck.rag.crawl import CrawlError, validate_start_url

Schedule = Literal["never", "daily", "weekly"]
CrawlStatus = Literal["queued", "running", "completed", "failed"]

_KB = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e41"
_SOURCE = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e61"
_CRAWL = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e71"
_CREATE_EXAMPLE: dict[str, Any] = {
    "start_url": "https://docs.example.org/",
    "max_pages": 50,
    "max_depth": 3,
    "include_patterns": ["/docs/*"],
    "exclude_patterns": ["/docs/archive/*"],
    "delay_s": 1.0,
    "schedule": "weekly",
}
_CRAWL_EXAMPLE: dict[str, Any] = {
    "id": _CRAWL,
    "source_id": _SOURCE,
    "kb_id": _KB,
    "trigger": "manual",
    "status": "completed",
    "pages_fetched": 12,
    "pages_changed": 3,
    "pages_unchanged": 8,
    "pages_failed": 1,
    "pages_skipped": 2,
    "errors": [{"url": "https://docs.example.org/old", "error": "http_status: HTTP 404"}],
    "error": None,
    "started_at": "2026-11-21T10:00:00Z",
    "finished_at": "2026-11-21T10:00:20Z",
    "created_at": "2026-11-21T10:00:00Z",
}
_SOURCE_EXAMPLE: dict[str, Any] = {
    "id": _SOURCE,
    "kb_id": _KB,
    "space_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e10",
    **_CREATE_EXAMPLE,
    "next_crawl_at": "2026-11-28T10:00:20Z",
    "last_crawl_at": "2026-11-21T10:00:20Z",
    "last_crawl": _CRAWL_EXAMPLE,
    "created_by": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e01",
    "created_at": "2026-11-21T09:59:00Z",
    "updated_at": "2026-11-21T10:00:20Z",
}

_PATTERNS_HELP = (
    "Shell globs matched against the URL path (e.g. `/docs/*`; `*` also matches `/`). "
    "A link is followed when it matches no exclude pattern and, if include patterns are "
    "given, at least one of them. The start URL is always crawled."
)


def _check_patterns(patterns: list[str] | None) -> list[str] | None:
    if patterns is None:
        return None
    for pattern in patterns:
        if not pattern.strip() or len(pattern) > 300 or "\x00" in pattern:
            raise ValueError("each pattern must be 1-300 characters")
    return patterns


class _SourceFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("start_url", check_fields=False)
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_start_url(value)
        except CrawlError as exc:
            raise ValueError(exc.detail) from exc

    @field_validator("include_patterns", "exclude_patterns", check_fields=False)
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return _check_patterns(value)


class SourceCreate(_SourceFields):
    """A website to crawl into the knowledge base."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _CREATE_EXAMPLE})

    start_url: str = Field(max_length=2048, description="An http(s) URL; the crawl stays on "
                           "its scheme, host and port.")  # fmt: skip
    max_pages: int = Field(50, ge=1, le=100_000, description="Most page requests per crawl.")
    max_depth: int = Field(3, ge=0, le=1000, description="Most links away from the start URL.")
    include_patterns: list[str] = Field(default_factory=list, max_length=50,
                                        description=_PATTERNS_HELP)  # fmt: skip
    exclude_patterns: list[str] = Field(default_factory=list, max_length=50,
                                        description=_PATTERNS_HELP)  # fmt: skip
    delay_s: float = Field(1.0, ge=0, le=60, description="Seconds between requests (robots.txt "
                           "Crawl-delay wins when longer).")  # fmt: skip
    schedule: Schedule = Field("never", description="Re-crawl daily, weekly or never.")


class SourceUpdate(_SourceFields):
    """Fields to change; the schedule's next crawl is recomputed when the schedule changes."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"max_pages": 100, "schedule": "daily"}}
    )

    start_url: str | None = Field(None, max_length=2048)
    max_pages: int | None = Field(None, ge=1, le=100_000)
    max_depth: int | None = Field(None, ge=0, le=1000)
    include_patterns: list[str] | None = Field(None, max_length=50)
    exclude_patterns: list[str] | None = Field(None, max_length=50)
    delay_s: float | None = Field(None, ge=0, le=60)
    schedule: Schedule | None = None


class CrawlPageError(BaseModel):
    """One page that failed, and why (``kind: detail``)."""

    model_config = ConfigDict(json_schema_extra={"example": _CRAWL_EXAMPLE["errors"][0]})

    url: str
    error: str


class CrawlRunOut(BaseModel):
    """A crawl of a source: its status, page counts and per-page errors."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _CRAWL_EXAMPLE})

    id: uuid.UUID
    source_id: uuid.UUID
    kb_id: uuid.UUID
    trigger: Literal["manual", "schedule"]
    status: CrawlStatus
    pages_fetched: int = Field(description="HTML pages fetched and extracted.")
    pages_changed: int = Field(description="Pages new or changed, sent to ingestion.")
    pages_unchanged: int = Field(description="Pages whose text hash was already known.")
    pages_failed: int = Field(description="Pages that failed (see `errors`).")
    pages_skipped: int = Field(description="URLs skipped: robots.txt, not HTML, noindex, ...")
    errors: list[CrawlPageError]
    error: str | None = Field(description="Why the whole crawl failed, if it did.")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime


class CrawlRunPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_CRAWL_EXAMPLE], "next_cursor": None}}
    )

    items: list[CrawlRunOut]
    next_cursor: str | None = None


class SourceOut(BaseModel):
    """A website source of a knowledge base, with its newest crawl."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _SOURCE_EXAMPLE})

    id: uuid.UUID
    kb_id: uuid.UUID
    space_id: uuid.UUID
    start_url: str
    max_pages: int
    max_depth: int
    include_patterns: list[str]
    exclude_patterns: list[str]
    delay_s: float
    schedule: Schedule
    next_crawl_at: dt.datetime | None
    last_crawl_at: dt.datetime | None
    last_crawl: CrawlRunOut | None = None
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SourcePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_SOURCE_EXAMPLE], "next_cursor": None}}
    )

    items: list[SourceOut]
    next_cursor: str | None = None
