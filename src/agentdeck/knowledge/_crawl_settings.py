"""Website-crawling settings, read from ``AGENTDECK_CRAWL__*``.

* ``AGENTDECK_CRAWL__ALLOW_PRIVATE_URLS`` [false]: let sources crawl loopback, private and
  link-local addresses (tests, on-premises intranets). Off, such a start URL is refused when
  the source is saved or changed (its host is resolved then, as the crawl does, and
  ``AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS`` applies) and again when the crawl starts.
* ``AGENTDECK_CRAWL__TIMEOUT_S`` [20]: per page request.
* ``AGENTDECK_CRAWL__MAX_PAGE_BYTES`` [5 MiB]: a larger page is a per-page ``too_large`` error.
* ``AGENTDECK_CRAWL__MAX_PAGES`` [1000] and ``AGENTDECK_CRAWL__MAX_DEPTH`` [20]: the highest
  limits a source may ask for.
* ``AGENTDECK_CRAWL__MAX_ERRORS_KEPT`` [200]: per-page errors stored on a crawl run (the
  ``pages_failed`` count keeps counting).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CrawlSettings(BaseSettings):
    """``AGENTDECK_CRAWL__*``."""

    model_config = SettingsConfigDict(env_prefix="AGENTDECK_CRAWL__", extra="ignore")

    allow_private_urls: bool = Field(False, description="Let sources reach private hosts.")
    timeout_s: float = Field(20.0, gt=0, description="Timeout of one page request.")
    max_page_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Largest page fetched.")
    max_pages: int = Field(1000, ge=1, description="Highest max_pages a source may set.")
    max_depth: int = Field(20, ge=0, description="Highest max_depth a source may set.")
    max_errors_kept: int = Field(200, ge=0, description="Per-page errors kept per crawl run.")
