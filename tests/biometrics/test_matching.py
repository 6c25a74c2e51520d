"""biometrics.matching (pure): distances, thresholds, 1:N search order, versions, the cache.

No database, no DeepFace: vectors are built at exact cosine distances from basis vectors.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from biometrics.matching import (
    DLIB_COSINE_THRESHOLD,
    DLIB_THRESHOLD_MAX,
    DLIB_THRESHOLD_MIN,
    EMBEDDING_DIM,
    FaissGallery,
    Gallery,
    GalleryCache,
    InvalidEmbedding,
    Match,
    ThresholdBounds,
    clamp_threshold,
    cosine_distance,
    create_gallery,
    decode_embedding,
    encode_embedding,
    is_faiss_available,
    is_match,
    normalize,
)

DIM = EMBEDDING_DIM


def basis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def at_distance(distance: float, axis: int = 0, towards: int = 127) -> np.ndarray:
    """A unit vector at exactly ``distance`` (cosine) from ``basis(axis)``."""
    cos = 1.0 - distance
    return (cos * basis(axis) + math.sqrt(1.0 - cos * cos) * basis(towards)).astype(np.float32)


def random_unit_rows(n: int, seed: int = 1) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# --- distances and thresholds ------------------------------------------------------------------


def test_cosine_distance_is_zero_for_the_same_direction_and_two_for_opposite() -> None:
    v = np.arange(1, DIM + 1, dtype=np.float32)
    assert cosine_distance(v, 3 * v) == pytest.approx(0.0, abs=1e-6)
    assert cosine_distance(v, -v) == pytest.approx(2.0, abs=1e-6)
    assert cosine_distance(basis(0), basis(1)) == pytest.approx(1.0, abs=1e-6)


def test_a_vector_built_at_a_distance_measures_that_distance() -> None:
    assert cosine_distance(basis(0), at_distance(0.05)) == pytest.approx(0.05, abs=1e-6)


def test_normalize_returns_a_float32_unit_vector() -> None:
    v = normalize(np.full(DIM, 3.0), DIM)
    assert v.dtype == np.float32
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "bad",
    [np.zeros(DIM), np.full(DIM, np.nan), np.ones(DIM - 1), np.ones((2, DIM))],
    ids=["zero", "nan", "short", "matrix"],
)
def test_normalize_refuses_vectors_that_are_not_embeddings(bad: np.ndarray) -> None:
    with pytest.raises(InvalidEmbedding):
        normalize(bad, DIM)


def test_the_threshold_is_inclusive() -> None:
    assert is_match(DLIB_COSINE_THRESHOLD, DLIB_COSINE_THRESHOLD)
    assert not is_match(DLIB_COSINE_THRESHOLD + 1e-6, DLIB_COSINE_THRESHOLD)


def test_an_organization_threshold_is_clamped_into_the_safe_bounds() -> None:
    assert clamp_threshold(None) == DLIB_COSINE_THRESHOLD
    assert clamp_threshold(float("nan")) == DLIB_COSINE_THRESHOLD
    assert clamp_threshold(0.05) == 0.05
    assert clamp_threshold(0.0) == DLIB_THRESHOLD_MIN
    assert clamp_threshold(0.5) == DLIB_THRESHOLD_MAX
    assert DLIB_THRESHOLD_MIN < DLIB_COSINE_THRESHOLD < DLIB_THRESHOLD_MAX


def test_threshold_bounds_must_contain_their_default() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        ThresholdBounds(default=0.2, minimum=0.03, maximum=0.09)


def test_an_embedding_survives_its_byte_format_unchanged() -> None:
    # given
    v = normalize(np.arange(1, DIM + 1, dtype=np.float32), DIM)
    # when
    data = encode_embedding(v)
    # then
    assert len(data) == 512
    assert np.array_equal(decode_embedding(data), v)


def test_decoding_refuses_bytes_of_the_wrong_length() -> None:
    with pytest.raises(InvalidEmbedding, match="expected 512 bytes"):
        decode_embedding(b"\x00" * 511)


# --- gallery search ----------------------------------------------------------------------------


def make_gallery() -> Gallery[str]:
    """alice at 0.01, bob at 0.03, carol at 0.05, dave at 0.20 from the probe basis(0)."""
    gallery: Gallery[str] = Gallery()
    gallery.add("carol", at_distance(0.05, towards=3))
    gallery.add("alice", at_distance(0.01, towards=1))
    gallery.add("dave", at_distance(0.20, towards=4))
    gallery.add("bob", at_distance(0.03, towards=2))
    return gallery


def test_search_returns_ids_within_the_threshold_nearest_first() -> None:
    # given
    gallery = make_gallery()
    # when
    matches = gallery.search(basis(0), top_k=10, threshold=0.07)
    # then dave (0.20) is outside; the rest come in distance order
    assert [m.id for m in matches] == ["alice", "bob", "carol"]
    assert [m.distance for m in matches] == pytest.approx([0.01, 0.03, 0.05], abs=1e-5)
    assert matches[0] == Match("alice", matches[0].distance)  # a plain (id, distance) tuple


def test_search_stops_at_top_k() -> None:
    assert [m.id for m in make_gallery().search(basis(0), top_k=2)] == ["alice", "bob"]


def test_search_with_a_tighter_threshold_returns_fewer() -> None:
    assert [m.id for m in make_gallery().search(basis(0), threshold=0.02)] == ["alice"]


def test_search_finds_nobody_when_no_one_is_close() -> None:
    assert make_gallery().search(basis(10)) == []


def test_search_of_an_empty_gallery_is_empty() -> None:
    assert Gallery[str]().search(basis(0)) == []


def test_search_normalises_the_probe() -> None:
    assert [m.id for m in make_gallery().search(5.0 * basis(0), top_k=1)] == ["alice"]


def test_an_id_with_several_templates_appears_once_at_its_best_distance() -> None:
    # given erin enrolled from three photos at 0.06, 0.02 and 0.04, and frank at 0.03
    gallery: Gallery[str] = Gallery()
    for d, towards in ((0.06, 5), (0.02, 6), (0.04, 7)):
        gallery.add("erin", at_distance(d, towards=towards))
    gallery.add("frank", at_distance(0.03, towards=8))
    # when
    matches = gallery.search(basis(0), top_k=5)
    # then
    assert [(m.id, round(m.distance, 4)) for m in matches] == [("erin", 0.02), ("frank", 0.03)]
    assert len(gallery) == 4
    assert gallery.get_ids() == {"erin", "frank"}


def test_equal_distances_are_ordered_by_insertion() -> None:
    gallery: Gallery[int] = Gallery()
    for subject in (30, 10, 20):
        gallery.add(subject, at_distance(0.04, towards=subject))
    assert [m.id for m in gallery.search(basis(0))] == [30, 10, 20]


def test_a_large_crowd_within_the_threshold_is_ranked_by_argpartition_correctly() -> None:
    # given 20000 rows of 5000 ids all within the threshold (4 rows each, random distances)
    rng = np.random.default_rng(3)
    distances = rng.uniform(0.001, 0.06, 20_000)
    cos = 1.0 - distances
    rows = np.zeros((20_000, DIM), dtype=np.float32)
    rows[:, 0] = cos
    rows[np.arange(20_000), 1 + (np.arange(20_000) % 126)] = np.sqrt(1 - cos * cos)
    ids = [i // 4 for i in range(20_000)]
    gallery = Gallery.from_embeddings(ids, rows)
    # when
    matches = gallery.search(basis(0), top_k=7)
    # then the answer equals a brute-force min per id, sorted
    best: dict[int, float] = {}
    for item_id, d in zip(ids, distances, strict=True):
        best[item_id] = min(best.get(item_id, 9.0), float(d))
    expected = sorted(best.items(), key=lambda kv: kv[1])[:7]
    assert [m.id for m in matches] == [k for k, _ in expected]
    assert [m.distance for m in matches] == pytest.approx([v for _, v in expected], abs=1e-5)


def test_search_refuses_a_nonsense_top_k_or_threshold() -> None:
    gallery = make_gallery()
    with pytest.raises(ValueError, match="top_k"):
        gallery.search(basis(0), top_k=0)
    with pytest.raises(ValueError, match="threshold"):
        gallery.search(basis(0), threshold=-0.1)


# --- mutations and versions --------------------------------------------------------------------


def test_each_mutation_bumps_the_version() -> None:
    # given
    gallery: Gallery[str] = Gallery()
    assert gallery.version == 0
    # when / then
    gallery.add("alice", basis(1))
    assert gallery.version == 1
    gallery.add_many(["bob", "carol"], np.stack([basis(2), basis(3)]))
    assert gallery.version == 2
    assert gallery.remove("bob") == 1
    assert gallery.version == 3
    assert gallery.remove("nobody") == 0
    assert gallery.version == 3  # nothing removed, nothing changed


def test_a_removed_id_is_never_found_again_and_the_others_still_are() -> None:
    # given
    gallery = make_gallery()
    gallery.add("alice", at_distance(0.015, towards=9))  # a second template
    # when
    removed = gallery.remove("alice")
    # then
    assert removed == 2
    assert "alice" not in gallery
    assert [m.id for m in gallery.search(basis(0))] == ["bob", "carol"]


def test_adding_past_the_capacity_keeps_every_row() -> None:
    rows = random_unit_rows(3000)
    gallery: Gallery[int] = Gallery(capacity=2)
    for i, row in enumerate(rows):
        gallery.add(i, row)
    assert len(gallery) == 3000
    assert gallery.search(rows[2999], top_k=1)[0].id == 2999


def test_a_bad_row_in_add_many_adds_nothing() -> None:
    gallery = make_gallery()
    version, size = gallery.version, len(gallery)
    with pytest.raises(InvalidEmbedding):
        gallery.add_many(["x", "y"], np.stack([basis(1), np.zeros(DIM, dtype=np.float32)]))
    assert (gallery.version, len(gallery), "x" in gallery) == (version, size, False)


def test_ids_and_embeddings_must_pair_up() -> None:
    with pytest.raises(InvalidEmbedding, match="2 ids for 1"):
        Gallery[str]().add_many(["a", "b"], basis(0)[None, :])


# --- the cache ---------------------------------------------------------------------------------


def test_the_cache_loads_once_per_version_and_reloads_when_the_version_moves() -> None:
    # given a loader that counts its calls
    calls: list[int] = []

    def loader() -> Gallery[str]:
        calls.append(1)
        return make_gallery()

    cache: GalleryCache[str] = GalleryCache()
    # when
    first = cache.get("acme", 1, loader)
    again = cache.get("acme", 1, loader)
    older_reader = cache.get("acme", 0, loader)  # a caller that read the version earlier
    bumped = cache.get("acme", 2, loader)
    # then
    assert first is again is older_reader
    assert bumped is not first
    assert len(calls) == 2
    entry = cache.peek("acme")
    assert entry is not None
    assert entry.source_version == 2


def test_the_cache_keeps_organizations_apart() -> None:
    cache: GalleryCache[str] = GalleryCache()
    acme = cache.get("acme", 1, make_gallery)
    globex = cache.get("globex", 1, lambda: Gallery[str]())
    assert acme is not globex
    assert globex.search(basis(0)) == []


def test_the_cache_evicts_the_least_recently_used_organization() -> None:
    cache: GalleryCache[str] = GalleryCache(max_entries=2)
    cache.get("a", 1, Gallery)
    cache.get("b", 1, Gallery)
    cache.get("a", 1, Gallery)  # touch a: b is now the oldest
    cache.get("c", 1, Gallery)
    assert (cache.peek("a") is not None, cache.peek("b"), cache.peek("c") is not None) == (
        True,
        None,
        True,
    )


def test_a_failing_loader_leaves_the_cache_as_it_was() -> None:
    cache: GalleryCache[str] = GalleryCache()
    kept = cache.get("acme", 1, make_gallery)

    def broken() -> Gallery[str]:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get("acme", 2, broken)
    entry = cache.peek("acme")
    assert entry is not None
    assert (entry.source_version, entry.gallery) == (1, kept)


def test_invalidate_and_put() -> None:
    cache: GalleryCache[str] = GalleryCache()
    cache.put("acme", 5, make_gallery())
    assert len(cache) == 1
    cache.invalidate("acme")
    assert cache.peek("acme") is None


# --- FAISS (optional) --------------------------------------------------------------------------


def test_create_gallery_uses_numpy_for_small_galleries() -> None:
    gallery = create_gallery(["a"], basis(0)[None, :])
    assert type(gallery) is Gallery


@pytest.mark.skipif(not is_faiss_available(), reason="faiss-cpu is not installed (optional)")
def test_a_faiss_gallery_answers_exactly_like_a_numpy_gallery() -> None:
    # given the same 5000 random rows (2 per id) in both, plus near copies of a few rows
    rows = random_unit_rows(5000, seed=11)
    ids = [i // 2 for i in range(5000)]
    numpy_gallery = Gallery.from_embeddings(ids, rows)
    faiss_gallery = create_gallery(ids, rows, use_faiss=True)
    assert isinstance(faiss_gallery, FaissGallery)
    rng = np.random.default_rng(12)
    probes = rows[[10, 777, 4999]] + 0.02 * rng.standard_normal((3, DIM)).astype(np.float32)
    # when / then, also after a remove and an add
    for step in range(2):
        for probe in probes:
            expected = numpy_gallery.search(probe, top_k=5, threshold=0.5)
            got = faiss_gallery.search(probe, top_k=5, threshold=0.5)
            assert [m.id for m in got] == [m.id for m in expected]
            assert [m.distance for m in got] == pytest.approx(
                [m.distance for m in expected], abs=1e-6
            )
        if step == 0:
            for g in (numpy_gallery, faiss_gallery):
                g.remove(5)
                g.add(9999, rows[777])
    assert faiss_gallery.search(rows[777], top_k=2, threshold=0.01)[0].id in {388, 9999}


# --- purity ------------------------------------------------------------------------------------


def test_the_matching_package_imports_no_django_deepface_or_faiss() -> None:
    code = (
        "import sys, biometrics.matching\n"
        "bad = [m for m in ('django', 'deepface', 'faiss', 'cv2', 'celery') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
