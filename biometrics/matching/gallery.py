"""An organization's gallery: an in-memory matrix of normalised embeddings, searched 1:N.

One row per template; several rows may share an id (a subject enrolled from several photos),
and a search answers with distinct ids, each at its best (smallest) distance. Scoring is one
float32 matrix-vector product over the whole gallery (memory-bound: about 60 ms for 1M rows on
this machine, see ``bench/biometrics_search.py``); only the rows within the threshold are then
ranked, with ``np.argpartition`` when there are many of them, so the cost does not grow with
how many people happen to look alike.

``version`` counts mutations of this in-memory object. It is *not* the database's gallery
version: ``GalleryCache`` keeps that one beside the gallery it was built from.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Final, Generic, NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from biometrics.matching.distance import (
    EMBEDDING_DIM,
    InvalidEmbedding,
    Matrix,
    Vector,
    cosine_distances,
    normalize,
    normalize_rows,
)
from biometrics.matching.thresholds import DLIB_COSINE_THRESHOLD

__all__ = ["DEFAULT_TOP_K", "Gallery", "Match"]

K = TypeVar("K", bound=Hashable)

DEFAULT_TOP_K: Final = 5
_INITIAL_CAPACITY: Final = 1024
# Below this many hits within the threshold a full sort is cheaper than argpartition rounds.
_FULL_SORT_LIMIT: Final = 4096


class Match(NamedTuple, Generic[K]):
    """One search answer: an id and its best cosine distance to the probe."""

    id: K
    distance: float


class Gallery(Generic[K]):
    """Normalised float32 embeddings with ids; ``add``, ``remove`` and ``search`` (exact)."""

    def __init__(self, dim: int = EMBEDDING_DIM, *, capacity: int = _INITIAL_CAPACITY) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self._dim = dim
        self._matrix: Matrix = np.zeros((max(1, capacity), dim), dtype=np.float32)
        # Ids are mapped to dense int codes so that remove and de-duplication are vectorised.
        self._codes: NDArray[np.int64] = np.zeros(max(1, capacity), dtype=np.int64)
        self._size = 0
        self._code_of: dict[K, int] = {}
        self._id_of: dict[int, K] = {}
        self._rows_of: dict[K, int] = {}
        self._next_code = 0
        self._version = 0

    @classmethod
    def from_embeddings(
        cls, ids: Sequence[K], embeddings: ArrayLike, *, dim: int = EMBEDDING_DIM
    ) -> Gallery[K]:
        """A gallery built in one step (what a loader does from the database)."""
        gallery: Gallery[K] = cls(dim, capacity=max(len(ids), 1))
        gallery.add_many(ids, embeddings)
        return gallery

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def version(self) -> int:
        """Incremented by every ``add``/``add_many`` and by every ``remove`` that removed rows."""
        return self._version

    def __len__(self) -> int:
        """Number of rows (templates), not of distinct ids."""
        return self._size

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows_of

    def get_ids(self) -> frozenset[K]:
        """The distinct ids present."""
        return frozenset(self._rows_of)

    def add(self, item_id: K, embedding: ArrayLike) -> None:
        """Add one embedding (normalised here) under ``item_id``."""
        self.add_many([item_id], np.asarray(embedding, dtype=np.float32)[None, :])

    def add_many(self, ids: Sequence[K], embeddings: ArrayLike) -> None:
        """Add rows in one step: all validated first, so a bad row adds nothing."""
        rows = normalize_rows(embeddings, self._dim)
        if rows.shape[0] != len(ids):
            raise InvalidEmbedding(f"{len(ids)} ids for {rows.shape[0]} embeddings")
        if not ids:
            return
        self._reserve(self._size + len(ids))
        start, end = self._size, self._size + len(ids)
        self._matrix[start:end] = rows
        self._codes[start:end] = [self._code_for(item_id) for item_id in ids]
        for item_id in ids:
            self._rows_of[item_id] = self._rows_of.get(item_id, 0) + 1
        self._size = end
        self._version += 1
        self._on_rows_added(start, end)

    def remove(self, item_id: K) -> int:
        """Remove every row of ``item_id``; returns how many were removed (0: unknown id)."""
        code = self._code_of.get(item_id)
        if code is None:
            return 0
        keep = self._codes[: self._size] != code
        kept = int(keep.sum())
        removed = self._size - kept
        self._matrix[:kept] = self._matrix[: self._size][keep]
        self._codes[:kept] = self._codes[: self._size][keep]
        self._size = kept
        del self._code_of[item_id], self._id_of[code], self._rows_of[item_id]
        self._version += 1
        self._on_rows_compacted()
        return removed

    def search(
        self,
        probe: ArrayLike,
        top_k: int = DEFAULT_TOP_K,
        threshold: float = DLIB_COSINE_THRESHOLD,
    ) -> list[Match[K]]:
        """Up to ``top_k`` distinct ids within ``threshold`` of ``probe``, nearest first.

        Ties are broken by insertion order, so the answer is deterministic.
        """
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if not (0.0 <= threshold <= 2.0):
            raise ValueError("threshold must be a cosine distance in [0, 2]")
        p = normalize(probe, self._dim)
        if self._size == 0:
            return []
        positions, distances = self._shortlist(p, top_k, threshold)
        return self._best_per_id(positions, distances, top_k)

    # --- hooks for accelerated subclasses (FAISS) -------------------------------------------

    def _shortlist(
        self, probe: Vector, top_k: int, threshold: float
    ) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        """Rows within the threshold and their exact distances, in any order."""
        distances = cosine_distances(probe, self._matrix[: self._size])
        positions = np.flatnonzero(distances <= threshold)
        return positions, distances[positions]

    def _on_rows_added(self, start: int, end: int) -> None:
        """Rows ``start:end`` were appended."""

    def _on_rows_compacted(self) -> None:
        """Row positions changed (a remove)."""

    def _rows(self) -> Matrix:
        return self._matrix[: self._size]

    # --- internals ----------------------------------------------------------------------------

    def _best_per_id(
        self, positions: NDArray[np.intp], distances: NDArray[np.float32], top_k: int
    ) -> list[Match[K]]:
        if positions.size == 0:
            return []
        want = top_k if positions.size <= _FULL_SORT_LIMIT else top_k * 4
        while True:
            if want >= positions.size:
                chosen = np.arange(positions.size)
            else:
                chosen = np.argpartition(distances, want - 1)[:want]
            # Sort by distance, then by row position: deterministic under ties.
            order = chosen[np.lexsort((positions[chosen], distances[chosen]))]
            matches = self._first_per_code(positions[order], distances[order], top_k)
            if len(matches) >= top_k or want >= positions.size:
                return matches
            want *= 4  # several rows per id crowded the shortlist: widen it

    def _first_per_code(
        self, positions: Iterable[np.intp], distances: Iterable[np.float32], top_k: int
    ) -> list[Match[K]]:
        matches: list[Match[K]] = []
        seen: set[int] = set()
        for position, distance in zip(positions, distances, strict=True):
            code = int(self._codes[position])
            if code in seen:
                continue
            seen.add(code)
            matches.append(Match(self._id_of[code], float(distance)))
            if len(matches) == top_k:
                break
        return matches

    def _code_for(self, item_id: K) -> int:
        code = self._code_of.get(item_id)
        if code is None:
            code = self._next_code
            self._next_code += 1
            self._code_of[item_id] = code
            self._id_of[code] = item_id
        return code

    def _reserve(self, rows: int) -> None:
        capacity = self._matrix.shape[0]
        if rows <= capacity:
            return
        new_capacity = max(rows, capacity * 2)
        matrix = np.zeros((new_capacity, self._dim), dtype=np.float32)
        matrix[: self._size] = self._matrix[: self._size]
        codes = np.zeros(new_capacity, dtype=np.int64)
        codes[: self._size] = self._codes[: self._size]
        self._matrix, self._codes = matrix, codes
