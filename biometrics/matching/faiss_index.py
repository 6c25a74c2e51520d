"""Optional FAISS acceleration behind the same ``Gallery`` interface.

FAISS is imported lazily and only when asked for; without it everything works on numpy.
``FaissGallery`` keeps the exact float32 matrix (the truth, used for removal and the final
distances) and adds a FAISS flat index in half precision: scanning 2 bytes per dimension instead
of 4 roughly halves a memory-bound search (1M rows: about 25 ms instead of about 60 ms here).
fp16 rounding moves an inner product by at most about 5e-4, so FAISS only proposes a shortlist;
each proposed row is then re-scored exactly from the float32 matrix before the threshold is
applied, so a FaissGallery answers exactly like a Gallery except in the (measure-zero) case of a
row more than 5e-4 outside the shortlist cut.

FAISS runs OpenMP threads; on a machine whose cores are shared by Celery worker processes call
``set_faiss_threads(1)`` once per process (the bench measures both).
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Sequence
from typing import Any, Final, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from biometrics.matching.distance import EMBEDDING_DIM, Vector, cosine_distances
from biometrics.matching.gallery import Gallery

__all__ = [
    "FAISS_MIN_ROWS",
    "FaissGallery",
    "FaissUnavailable",
    "create_gallery",
    "is_faiss_available",
    "set_faiss_threads",
]

K = TypeVar("K", bound=Hashable)

# Below this a numpy scan is already a few milliseconds and one index is not worth its memory.
FAISS_MIN_ROWS: Final = 100_000
_SHORTLIST_FACTOR: Final = 4


class FaissUnavailable(RuntimeError):
    """FAISS was requested but ``faiss`` (faiss-cpu) is not importable."""


def _import_faiss() -> Any:
    try:
        return importlib.import_module("faiss")
    except ImportError as exc:
        raise FaissUnavailable("faiss-cpu is not installed") from exc


def is_faiss_available() -> bool:
    """Whether ``faiss`` can be imported here."""
    try:
        _import_faiss()
    except FaissUnavailable:
        return False
    return True


def set_faiss_threads(threads: int) -> None:
    """Set FAISS's OpenMP thread count for this process (a process-wide setting)."""
    _import_faiss().omp_set_num_threads(max(1, threads))


class FaissGallery(Gallery[K]):
    """A ``Gallery`` whose searches are shortlisted by a FAISS fp16 flat index."""

    def __init__(self, dim: int = EMBEDDING_DIM, *, capacity: int = 1024) -> None:
        self._faiss = _import_faiss()
        self._index: Any = None  # built lazily; None also means "stale after a remove"
        super().__init__(dim, capacity=capacity)

    def _build_index(self) -> Any:
        faiss = self._faiss
        index = faiss.IndexScalarQuantizer(
            self.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        rows = self._rows()
        if rows.shape[0]:
            index.add(np.ascontiguousarray(rows))
        return index

    def _on_rows_added(self, start: int, end: int) -> None:
        if self._index is not None:
            # Appending keeps FAISS row numbers equal to matrix row positions.
            self._index.add(np.ascontiguousarray(self._rows()[start:end]))

    def _on_rows_compacted(self) -> None:
        self._index = None

    def _shortlist(
        self, probe: Vector, top_k: int, threshold: float
    ) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        if self._index is None:
            self._index = self._build_index()
        size = len(self)
        rows = self._rows()
        want = min(size, top_k * _SHORTLIST_FACTOR)
        while True:
            _, labels = self._index.search(probe[None, :], want)
            proposed = labels[0][labels[0] >= 0].astype(np.intp)
            exact = cosine_distances(probe, rows[proposed])
            inside = exact <= threshold
            # Widen when every proposal is inside the threshold: more rows may be, and several
            # may belong to one id. Stop when a proposal falls outside or all rows were seen.
            if not bool(inside.all()) or want >= size:
                return proposed[inside], exact[inside]
            want = min(size, want * _SHORTLIST_FACTOR)


def create_gallery(
    ids: Sequence[K],
    embeddings: ArrayLike,
    *,
    dim: int = EMBEDDING_DIM,
    use_faiss: bool | None = None,
) -> Gallery[K]:
    """Build the right gallery for a loader: FAISS when asked (``True``) or, with ``None``,
    when FAISS is importable and the gallery has at least ``FAISS_MIN_ROWS`` rows."""
    if use_faiss is None:
        use_faiss = len(ids) >= FAISS_MIN_ROWS and is_faiss_available()
    if use_faiss:
        return FaissGallery.from_embeddings(ids, embeddings, dim=dim)
    return Gallery.from_embeddings(ids, embeddings, dim=dim)
