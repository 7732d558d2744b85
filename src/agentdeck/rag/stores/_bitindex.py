"""An in-process binary (sign-bit) index of one knowledge base's vectors, for candidates.

Each vector is reduced to one bit per dimension, the sign of its difference from the kb's mean
vector (centring matters: sentence embeddings share a large common component, so raw signs
carry little information). Hamming distance over these bits ranks a kb of 12,500 chunks in
well under a millisecond with numpy; the best few hundred candidates are then rescored exactly.
The index is a cache of rows in the database: `SqliteVecStore` refreshes it from a per-kb
change counter, so writes by other processes are seen by the next search.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

if hasattr(np, "bitwise_count"):

    def _popcount(bits: np.ndarray) -> np.ndarray:
        return np.bitwise_count(bits).sum(axis=1, dtype=np.int32)  # type: ignore[no-any-return]

else:  # numpy < 2.0
    _LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _popcount(bits: np.ndarray) -> np.ndarray:
        return _LUT[bits].sum(axis=1, dtype=np.int32)  # type: ignore[no-any-return]


class BitIndex:
    """Sign bits (around the mean) of one kb's chunk vectors, with their chunk ids."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.ids = np.empty(0, dtype=np.int64)
        self.bits = np.empty((0, (dim + 7) // 8), dtype=np.uint8)
        self.mean: np.ndarray | None = None
        self.mean_rows = 0  # how many vectors the mean was taken from
        self.changes = -1
        self.deletions = -1
        self.max_id = 0

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def reset(self) -> None:
        self.ids = self.ids[:0]
        self.bits = self.bits[:0]
        self.mean = None
        self.mean_rows = 0
        self.max_id = 0

    def add(self, rows: Iterable[tuple[int, bytes]]) -> None:
        """Append (chunk id, float32 vector blob) rows; ids must exceed those already held."""
        pairs = list(rows)
        if not pairs:
            return
        ids = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
        vectors = np.frombuffer(b"".join(blob for _, blob in pairs), dtype=np.float32)
        vectors = vectors.reshape(len(pairs), self.dim)
        if self.mean is None:
            self.mean = vectors.mean(axis=0)
            self.mean_rows = len(pairs)
        self.ids = np.concatenate([self.ids, ids])
        self.bits = np.concatenate([self.bits, self.quantize(vectors)])
        self.max_id = max(self.max_id, int(ids.max()))

    def quantize(self, vectors: np.ndarray) -> np.ndarray:
        mean = self.mean if self.mean is not None else 0.0
        return np.packbits(np.atleast_2d(vectors) > mean, axis=1)

    def candidates(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> np.ndarray:
        """Ids of the `k` chunks nearest to `query` in Hamming distance (of those whose id is
        in `allowed`, when given)."""
        if not len(self):
            return self.ids
        distances = _popcount(np.bitwise_xor(self.bits, self.quantize(query)))
        ids = self.ids
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, distances = ids[keep], distances[keep]
        if k >= ids.shape[0]:
            return ids
        return ids[np.argpartition(distances, k)[:k]]
