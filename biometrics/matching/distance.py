"""Cosine distance on L2-normalised float32 embeddings (pure numpy).

Every embedding in the system is stored normalised, so cosine distance is ``1 - a·b`` and a
whole gallery is scored with one matrix-vector product. Distances are clipped to [0, 2]: float
rounding can push ``a·a`` a hair above 1.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EMBEDDING_DIM",
    "InvalidEmbedding",
    "cosine_distance",
    "cosine_distances",
    "normalize",
    "normalize_rows",
]

EMBEDDING_DIM: Final = 128  # Dlib's face descriptor

Vector = NDArray[np.float32]
Matrix = NDArray[np.float32]

_MIN_NORM: Final = 1e-12


class InvalidEmbedding(ValueError):
    """An embedding of the wrong shape, with NaN/inf, or of zero length."""


def normalize(vector: ArrayLike, dim: int | None = None) -> Vector:
    """A 1-d float32 unit vector; raises ``InvalidEmbedding`` for a bad shape or a zero vector."""
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or (dim is not None and v.shape[0] != dim) or v.shape[0] == 0:
        raise InvalidEmbedding(f"expected a vector of {dim or 'any'} dimensions, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidEmbedding("embedding contains NaN or infinity")
    norm = float(np.linalg.norm(v))
    if norm < _MIN_NORM:
        raise InvalidEmbedding("embedding has zero length")
    return (v / norm).astype(np.float32, copy=False)


def normalize_rows(matrix: ArrayLike, dim: int | None = None) -> Matrix:
    """Each row as a float32 unit vector (a new C-contiguous array)."""
    m = np.array(matrix, dtype=np.float32, copy=True, ndmin=2, order="C")
    if m.ndim != 2 or (dim is not None and m.shape[1] != dim):
        raise InvalidEmbedding(f"expected rows of {dim or 'any'} dimensions, got {m.shape}")
    if m.shape[0] == 0:
        return m
    if not np.all(np.isfinite(m)):
        raise InvalidEmbedding("embeddings contain NaN or infinity")
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    if np.any(norms < _MIN_NORM):
        raise InvalidEmbedding("an embedding has zero length")
    m /= norms
    return m


def cosine_distance(a: ArrayLike, b: ArrayLike) -> float:
    """Cosine distance between two embeddings (normalised here, so any non-zero input works)."""
    va, vb = normalize(a), normalize(b)
    if va.shape != vb.shape:
        raise InvalidEmbedding(f"dimension mismatch: {va.shape} vs {vb.shape}")
    return float(np.clip(1.0 - float(va @ vb), 0.0, 2.0))


def cosine_distances(probe: Vector, matrix: Matrix) -> NDArray[np.float32]:
    """Distances from a unit ``probe`` to every row of a unit-row ``matrix`` (no re-normalising)."""
    scores: NDArray[np.float32] = matrix @ probe
    return np.clip(np.float32(1.0) - scores, 0.0, 2.0).astype(np.float32, copy=False)
