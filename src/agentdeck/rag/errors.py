"""RAG errors: plain exceptions with a stable `reason` the API layer maps to problem+json.

The library knows nothing of HTTP; a feature package turns these into `AppError`s.
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error raised by `agentdeck.rag`."""

    reason: str = "rag_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class LoadError(RagError):
    """A document could not be turned into text.

    `reason` is one of: ``empty``, ``too_large``, ``unsupported_type``, ``wrong_type``,
    ``corrupt``, ``encrypted``, ``zip_bomb``, ``no_text``. `detail` says what to do about it.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class StoreError(RagError):
    """A vector store was misused (bad filter key, wrong vector size, ...)."""

    reason = "store_error"


class EmbeddingError(RagError):
    """An embedding model could not be loaded or run."""

    reason = "embedding_error"
