"""Pure face matching: cosine distances, thresholds, 1:N galleries and their per-process cache.

Imports numpy only (FAISS lazily and optionally); no Django, DeepFace, clocks or randomness.
"""

from biometrics.matching.cache import DEFAULT_MAX_ENTRIES, CachedGallery, GalleryCache
from biometrics.matching.codec import decode_embedding, encode_embedding
from biometrics.matching.distance import (
    EMBEDDING_DIM,
    InvalidEmbedding,
    cosine_distance,
    cosine_distances,
    normalize,
    normalize_rows,
)
from biometrics.matching.faiss_index import (
    FAISS_MIN_ROWS,
    FaissGallery,
    FaissUnavailable,
    create_gallery,
    is_faiss_available,
    set_faiss_threads,
)
from biometrics.matching.gallery import DEFAULT_TOP_K, Gallery, Match
from biometrics.matching.thresholds import (
    DLIB_COSINE_THRESHOLD,
    DLIB_THRESHOLD_MAX,
    DLIB_THRESHOLD_MIN,
    DLIB_THRESHOLDS,
    ThresholdBounds,
    clamp_threshold,
    is_match,
)

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_TOP_K",
    "DLIB_COSINE_THRESHOLD",
    "DLIB_THRESHOLDS",
    "DLIB_THRESHOLD_MAX",
    "DLIB_THRESHOLD_MIN",
    "EMBEDDING_DIM",
    "FAISS_MIN_ROWS",
    "CachedGallery",
    "FaissGallery",
    "FaissUnavailable",
    "Gallery",
    "GalleryCache",
    "InvalidEmbedding",
    "Match",
    "ThresholdBounds",
    "clamp_threshold",
    "cosine_distance",
    "cosine_distances",
    "create_gallery",
    "decode_embedding",
    "encode_embedding",
    "is_faiss_available",
    "is_match",
    "normalize",
    "normalize_rows",
    "set_faiss_threads",
]
