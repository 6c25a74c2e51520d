"""The one byte format of an embedding: what gets encrypted at rest and decrypted for search.

Little-endian float32, ``dim`` values, nothing else (512 bytes for Dlib's 128). The model and
its version are stored beside the ciphertext (the engine's ``MODEL_ID``), not inside it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from biometrics.matching.distance import EMBEDDING_DIM, InvalidEmbedding, Vector, normalize

__all__ = ["decode_embedding", "encode_embedding"]

_WIRE_DTYPE = np.dtype("<f4")


def encode_embedding(embedding: ArrayLike, dim: int = EMBEDDING_DIM) -> bytes:
    """Normalise and serialise an embedding (validated: shape, finite, non-zero)."""
    return normalize(embedding, dim).astype(_WIRE_DTYPE, copy=False).tobytes()


def decode_embedding(data: bytes, dim: int = EMBEDDING_DIM) -> Vector:
    """The unit float32 vector stored by ``encode_embedding``; refuses a wrong length."""
    if len(data) != dim * _WIRE_DTYPE.itemsize:
        raise InvalidEmbedding(f"expected {dim * _WIRE_DTYPE.itemsize} bytes, got {len(data)}")
    return normalize(np.frombuffer(data, dtype=_WIRE_DTYPE).astype(np.float32), dim)
