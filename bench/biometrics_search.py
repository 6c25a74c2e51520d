"""Bench: 1:N search time alone, and warm face extraction latency. Prints; never asserts.

    .venv/bin/python bench/biometrics_search.py [--sizes 10000,100000,1000000] [--runs 9]
        [--no-engine]

Search: galleries of seeded synthetic 128-d normalised float32 embeddings, one row per id;
each run searches one probe (a stored row plus noise, so exactly one id is within the
threshold) for top 5 at the Dlib threshold; the median over ``--runs`` probes is reported for
the numpy path and, when faiss-cpu is importable, for ``FaissGallery`` with 1 OpenMP thread
(what a Celery prefork worker on a 2-core machine should use) and with all threads.
Target on this machine: 1M rows <= 50 ms.

Engine: when requirements/bio.txt is installed, warm ``extract`` on a real photo (fetched like
the tests do): decode + detect + embed, and detect + embed alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from biometrics.matching import (
    DLIB_COSINE_THRESHOLD,
    FaissGallery,
    Gallery,
    is_faiss_available,
    set_faiss_threads,
)

SEED = 20261125
DIM = 128


def synthetic_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    rows = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # chunked: no float64 copy of a 1M x 128 matrix
        end = min(n, start + 100_000)
        chunk = rng.standard_normal((end - start, DIM), dtype=np.float32)
        rows[start:end] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return rows


def median_ms(run: Callable[[int], object], runs: int) -> tuple[float, float, object]:
    """Median wall and process-CPU milliseconds over ``runs`` calls, and the last result.

    The machine is shared: wall time includes waiting for a core, CPU time does not (but it
    adds up every thread of this process, so it exceeds wall time for multi-threaded paths).
    """
    run(-1)  # warm caches and lazy index builds; not counted
    walls, cpus, last = [], [], None
    for i in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        last = run(i)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return statistics.median(walls), statistics.median(cpus), last


def bench_search(sizes: list[int], runs: int) -> None:
    faiss_ok = is_faiss_available()
    print(f"1:N search, top 5 within {DLIB_COSINE_THRESHOLD}, median of {runs} probes")
    print(f"  faiss-cpu importable: {faiss_ok}; cpu count: {os.cpu_count()}")
    for n in sizes:
        rng = np.random.default_rng(SEED + n)
        rows = synthetic_rows(n, rng)
        targets = rng.integers(0, n, runs + 1)
        noise = rng.standard_normal((runs + 1, DIM), dtype=np.float32) * 0.01
        probes = rows[targets] + noise

        def search_with(gallery: Gallery[int], probes: np.ndarray = probes) -> Callable:
            return lambda i: gallery.search(probes[i + 1], top_k=5)

        def is_right(last: object, target: int = int(targets[runs])) -> bool:
            # the last timed run searched probes[runs], a noisy copy of row targets[runs]
            return isinstance(last, list) and bool(last) and last[0].id == target

        started = time.perf_counter()
        numpy_gallery: Gallery[int] = Gallery(capacity=n)
        numpy_gallery.add_many(range(n), rows)  # type: ignore[arg-type]
        build = time.perf_counter() - started
        ms, cpu, last = median_ms(search_with(numpy_gallery), runs)
        print(
            f"  n={n:>9,}  numpy           wall {ms:8.2f} ms  cpu {cpu:8.2f} ms  "
            f"(build {build:5.2f} s, right id: {is_right(last)})"
        )
        del numpy_gallery
        if faiss_ok:
            started = time.perf_counter()
            faiss_gallery: FaissGallery[int] = FaissGallery(capacity=n)
            faiss_gallery.add_many(range(n), rows)  # type: ignore[arg-type]
            faiss_gallery.search(probes[0])  # builds the index
            build = time.perf_counter() - started
            for threads in (1, os.cpu_count() or 1):
                set_faiss_threads(threads)
                ms, cpu, last = median_ms(search_with(faiss_gallery), runs)
                print(
                    f"  n={n:>9,}  faiss fp16 {threads}thr wall {ms:8.2f} ms  cpu {cpu:8.2f} ms  "
                    f"(build {build:5.2f} s, right id: {is_right(last)})"
                )
            del faiss_gallery
        del rows


def bench_engine(runs: int) -> None:
    from biometrics.engine import FaceEngine, get_default_deepface_home, is_engine_installed
    from biometrics.images import load_image

    if not is_engine_installed():
        print("engine: not installed (pip install -r requirements/bio.txt); skipped")
        return
    from tests.biometrics.photos import fetch_real_photos

    photos = fetch_real_photos()
    engine = FaceEngine(get_default_deepface_home())
    print(f"engine: warm-up (load + first run) {engine.warm_up():.2f} s")
    for name in ("obama.jpg", "obama3.jpg"):
        data = photos[name].read_bytes()
        image = load_image(data)
        full, full_cpu, _ = median_ms(lambda _i, d=data: engine.extract_from_upload(d), runs)
        only, only_cpu, _ = median_ms(lambda _i, im=image: engine.extract(im), runs)
        print(
            f"  {name:11} {image.shape[1]}x{image.shape[0]}: decode+extract p50 wall "
            f"{full:7.1f} ms (cpu {full_cpu:7.1f}); extract alone p50 wall {only:7.1f} ms "
            f"(cpu {only_cpu:7.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-engine", action="store_true")
    args = parser.parse_args()
    bench_search([int(s) for s in args.sizes.split(",") if s], args.runs)
    if not args.no_engine:
        bench_engine(args.runs)


if __name__ == "__main__":
    main()
