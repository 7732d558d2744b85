"""Knowledge-base settings, read from ``AGENTDECK_KNOWLEDGE__*`` like the rest.

* ``AGENTDECK_KNOWLEDGE__MAX_UPLOAD_BYTES`` [20 MiB]: largest document accepted (413 above).
  The request body limit (``AGENTDECK_API__MAX_BODY_BYTES``) applies first to uploads.
* ``AGENTDECK_KNOWLEDGE__ALLOWED_FORMATS`` [all]: a JSON list of txt, md, html, pdf, docx,
  csv, json (e.g. ``'["pdf", "md"]'``); other types are refused with 415.
* ``AGENTDECK_KNOWLEDGE__VECTOR_URL`` [the main database]: a PostgreSQL with pgvector for the
  vectors. Without pgvector, vectors go to sqlite-vec in the data directory (with a warning).
* ``AGENTDECK_KNOWLEDGE__STORE_DIR`` [next to the SQLite database, else the data directory].
* ``AGENTDECK_KNOWLEDGE__ALLOW_PRIVATE_URLS`` [false]: let the URL form fetch loopback and
  private addresses (tests, on-premises intranets).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentdeck.rag.loaders import FORMATS


class KnowledgeSettings(BaseSettings):
    """``AGENTDECK_KNOWLEDGE__*``."""

    model_config = SettingsConfigDict(env_prefix="AGENTDECK_KNOWLEDGE__", extra="ignore")

    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest document.")
    allowed_formats: list[str] = Field(default_factory=lambda: list(FORMATS))
    vector_url: str | None = Field(None, description="PostgreSQL (pgvector) for the vectors.")
    store_dir: Path | None = Field(None, description="Directory of the sqlite-vec file.")
    allow_private_urls: bool = Field(False, description="Let URL documents reach private hosts.")
    url_timeout_s: float = Field(20.0, gt=0, description="Timeout of fetching a URL document.")
    max_redirects: int = Field(5, ge=0, le=20)
    embed_batch: int = Field(32, ge=1, le=2048, description="Chunks embedded per model call.")
    max_chunks: int = Field(20_000, ge=1, description="Most chunks one document may produce.")
    events_poll_s: float = Field(0.5, gt=0, description="How often the SSE stream re-reads.")
