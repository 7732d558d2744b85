"""knowledge feature: knowledge bases, documents, ingestion jobs and search on top of rag."""

from __future__ import annotations
