"""Biometrics figures (enrollment, verify/identify, workers, search) in one run. Never asserts.

    .venv/bin/python bench/biometrics.py [--quick]

Everything runs against a throw-away ``PORTAL_VAR_DIR`` (its own SQLite file in WAL mode,
migrated here) with ``DATABASE_URL``/``REDIS_URL`` removed, so tasks run in process (the
embedded default); the real photos are fetched like the tests do (tests/biometrics/photos.py,
cached outside git). Sections:

1. Enrollment, warm, per photo: ``services.enrollment_create`` (web: checks, seals, queues) then
   ``services.enrollment_process`` with the warm engine (worker: decode, detect, embed,
   de-duplicate against the growing gallery, store), one photo per enrollment.
2. Verification and identification end to end through the REST API: a real uvicorn server on a
   free port (a subprocess; tasks eager in it, so its engine is loaded by the warm-up requests),
   one client sending multipart requests sequentially with a bearer token made by the tenants
   services. Server CPU per request is read from ``/proc``.
3. Worker throughput with 2 processes, only when ``REDIS_URL`` is set: ``celery -A portal worker
   -Q biometrics -c 2`` on Redis database ``--redis-db`` (9 by default) and the same SQLite file;
   M single-photo enrollments are queued at once and completed jobs/s are measured after warm-up.
4. 1:N search alone: ``bench/biometrics_search.py``'s ``bench_search`` (10k, 100k, and 1M unless
   ``--quick``).

The machine is shared and noisy: medians (and p99 where asked; with few samples p99 is close to
the maximum) of wall time, with process CPU time beside it (CPU excludes waiting for a core).
Targets on this machine: enrollment p50 <= 500 ms per photo; identification end to end p50 <=
600 ms; search alone over 1M <= 50 ms.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "bench"))

TARGET_ENROLL_MS = 500
TARGET_IDENTIFY_MS = 600
TARGET_SEARCH_1M_MS = 50
PHOTO_NAMES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Everything that would point the portal at shared services; the bench runs embedded.
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "DATABASE_MIGRATE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_TASK_ALWAYS_EAGER",
)


@dataclass(frozen=True)
class Sizes:
    """How many samples each section takes."""

    enrollments: int
    requests: int
    worker_jobs: int
    search_sizes: tuple[int, ...]
    search_runs: int


FULL = Sizes(20, 40, 24, (10_000, 100_000, 1_000_000), 9)
QUICK = Sizes(8, 15, 10, (10_000, 100_000), 5)


# --- measuring ------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of values at or below
    it (with fewer than 100 samples, p99 is the largest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (10 ms resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and its live children (a prefork worker and its pool)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(entry.name) == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def row(label: str, walls_ms: list[float], cpus_ms: list[float], p99: bool, target: str) -> str:
    text = f"  {label:34} p50 wall {statistics.median(walls_ms):7.1f} ms"
    if p99:
        text += f"  p99 wall {percentile(walls_ms, 99):7.1f} ms"
    text += f"  p50 cpu {statistics.median(cpus_ms):7.1f} ms  (n={len(walls_ms)})"
    return f"{text}  {target}".rstrip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], seconds: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


# --- the embedded portal ------------------------------------------------------------------------
def embedded_environment(var_dir: Path) -> dict[str, str]:
    """This process's environment pointed at ``var_dir``, without any shared service."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(
        PORTAL_VAR_DIR=str(var_dir),
        # The offline weights already linked for the repository; nothing downloads.
        DEEPFACE_HOME=os.environ.get("DEEPFACE_HOME") or str(REPO / "var" / "deepface"),
        DJANGO_SETTINGS_MODULE="portal.settings",
        LOG_LEVEL="WARNING",
        # The bench sends more requests per minute than the default throttle allows a token.
        API_THROTTLE_TOKEN="100000/minute",  # noqa: S106 - a rate, not a secret
        API_THROTTLE_USER="100000/hour",
    )
    return env


def setup_django(var_dir: Path) -> None:
    os.environ.clear()
    os.environ.update(embedded_environment(var_dir))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    # Eager tasks with the in-memory broker make kombu warn about a missing host: noise here.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Tenant:
    """A bench organization with its owner and a bearer token for the API."""

    organization: Any
    user: Any
    token: str


def tenant_create(slug: str) -> Tenant:
    from django.contrib.auth import get_user_model

    from tenants import services as tenants
    from tenants.models import Membership

    user = get_user_model().objects.create_user(f"{slug}-owner", f"{slug}@bench.example", None)
    organization = tenants.organization_create(slug=slug, name=f"Bench {slug}", owner=user)
    membership = Membership.objects.get(user=user, organization=organization)
    _row, secret = tenants.token_create(membership=membership, name="bench")
    return Tenant(organization, user, secret)


def consented_subject(tenant: Tenant, ref: str) -> Any:
    """A subject with a valid consent for enrollment, verification and identification."""
    from biometrics import services
    from biometrics.models import Consent, Purpose

    subject = services.subject_create(
        organization=tenant.organization, external_ref=ref, display_name=ref, actor=tenant.user
    )
    for purpose in Purpose:
        services.consent_grant(
            organization=tenant.organization,
            subject=subject,
            purpose=purpose.value,
            policy_version=services.CURRENT_POLICY_VERSION,
            method=Consent.Method.ELECTRONIC,
            granted_by=tenant.user,
        )
    return subject


@contextmanager
def enrollments_not_dispatched() -> Iterator[None]:
    """Keep ``enrollment_create`` from running its job on commit (eager here), so the bench
    runs or sends it itself."""
    from biometrics import tasks

    with mock.patch.object(tasks.enrollment_process_task, "delay", lambda *_args: None):
        yield


# --- 1. enrollment ------------------------------------------------------------------------------
def bench_enrollment(photos: dict[str, bytes], count: int) -> None:
    from biometrics import services
    from biometrics.engine import get_engine

    engine = get_engine()
    print(f"engine: load + warm-up {engine.warm_up():.2f} s (in this process)")
    tenant = tenant_create("bench-enroll")
    webs, workers, totals, outcomes = [], [], [], []
    web_cpus, worker_cpus, cpus = [], [], []
    by_photo: dict[str, list[tuple[float, float]]] = {}
    warmup = len(PHOTO_NAMES)  # one untimed round over every photo: caches, lazy imports
    for i in range(warmup + count):
        name = PHOTO_NAMES[i % len(PHOTO_NAMES)]
        subject = consented_subject(tenant, f"enroll-{i}")
        cpu, started = time.process_time(), time.perf_counter()
        with enrollments_not_dispatched():
            enrollment = services.enrollment_create(
                organization=tenant.organization,
                subject=subject,
                images=[photos[name]],
                actor=tenant.user,
                allow_duplicates=True,  # same people again and again: store, do not refuse
            )
        queued, queued_cpu = time.perf_counter(), time.process_time()
        done = services.enrollment_process(
            enrollment_id=enrollment.pk, organization_id=tenant.organization.pk, engine=engine
        )
        finished, finished_cpu = time.perf_counter(), time.process_time()
        if i < warmup:
            continue
        webs.append((queued - started) * 1000)
        workers.append((finished - queued) * 1000)
        totals.append((finished - started) * 1000)
        web_cpus.append((queued_cpu - cpu) * 1000)
        worker_cpus.append((finished_cpu - queued_cpu) * 1000)
        cpus.append((finished_cpu - cpu) * 1000)
        outcomes.append(done.status)
        by_photo.setdefault(name, []).append((totals[-1], cpus[-1]))
    print(
        f"1. enrollment, 1 photo per enrollment, in process after warm-up "
        f"(photos rotate over {', '.join(PHOTO_NAMES)}; gallery grows to {warmup + count})"
    )
    print(row("web: check, seal, queue", webs, web_cpus, False, ""))
    print(row("worker: decode+detect+embed+store", workers, worker_cpus, False, ""))
    print(row("per photo, total", totals, cpus, False, f"target p50 <= {TARGET_ENROLL_MS} ms"))
    print(
        "  by photo, p50 wall / cpu ms: "
        + "; ".join(
            f"{name} {statistics.median(w for w, _c in runs):.0f} / "
            f"{statistics.median(c for _w, c in runs):.0f}"
            for name, runs in by_photo.items()
        )
    )
    print(f"  outcomes: {summarize(outcomes)}")


def summarize(outcomes: list[str]) -> str:
    return ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))


# --- 2. REST API end to end ---------------------------------------------------------------------
def start_server(var_dir: Path, port: int) -> subprocess.Popen[bytes]:
    log = (var_dir / "uvicorn.log").open("wb")
    return subprocess.Popen(  # noqa: S603 - a fixed command line of our own
        [
            sys.executable,
            "-m",
            "uvicorn",
            "portal.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=REPO,
        env=embedded_environment(var_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def bench_api(photos: dict[str, bytes], var_dir: Path, count: int) -> None:
    import httpx

    from biometrics import services

    tenant = tenant_create("bench-api")
    enrolled = {}
    for ref, name in (("obama", "obama.jpg"), ("biden", "biden.jpg"), ("collins", "astronaut.png")):
        subject = consented_subject(tenant, ref)
        enrollment = services.enrollment_create(  # its job runs on commit, in this process
            organization=tenant.organization, subject=subject, images=[photos[name]], actor=None
        )
        enrollment.refresh_from_db()
        enrolled[subject.pk] = (ref, enrollment.status)
    obama = next(pk for pk, (ref, _s) in enrolled.items() if ref == "obama")
    print(
        "2. REST API end to end: uvicorn subprocess (tasks in process), one sequential client; "
        f"gallery {', '.join(f'{r} ({s})' for r, s in enrolled.values())}"
    )
    port = free_port()
    server = start_server(var_dir, port)
    base = f"http://127.0.0.1:{port}/api/v1/orgs/{tenant.organization.slug}"
    headers = {"Authorization": f"Bearer {tenant.token}"}
    try:
        with httpx.Client(headers=headers, timeout=120) as client:
            if not wait_for(lambda: _is_up(client, port), 60, every=0.2):
                print(f"  server did not start; see {var_dir / 'uvicorn.log'}")
                return
            verify_url, identify_url = f"{base}/subjects/{obama}/verify/", f"{base}/identify/"
            probes = ("obama2.jpg", "obama3.jpg")  # never the enrolled photo itself

            def verify(i: int) -> bool:
                name = probes[i % len(probes)]
                response = client.post(verify_url, files={"image": (name, photos[name])})
                return response.status_code == 200 and response.json()["verified"] is True

            def identify(i: int) -> bool:
                name = probes[i % len(probes)]
                response = client.post(
                    identify_url, files={"image": (name, photos[name])}, data={"top_k": "3"}
                )
                if response.status_code != 200:
                    return False
                candidates = response.json()["candidates"]
                return bool(candidates) and candidates[0]["subject_id"] == obama

            started = time.perf_counter()
            for i in range(3):  # the server loads its engine and gallery here: not counted
                verify(i)
                identify(i)
            print(
                f"  server warm-up (engine load + 6 requests) {time.perf_counter() - started:.1f} s"
            )
            for label, call, target in (
                ("POST .../verify/", verify, ""),
                ("POST .../identify/", identify, f"target p50 <= {TARGET_IDENTIFY_MS} ms"),
            ):
                walls, cpus, right = [], [], 0
                for i in range(count):
                    cpu, wall = process_cpu_seconds(server.pid), time.perf_counter()
                    right += call(i)
                    walls.append((time.perf_counter() - wall) * 1000)
                    cpus.append((process_cpu_seconds(server.pid) - cpu) * 1000)
                print(row(label, walls, cpus, True, target))
                print(f"    right answers (200, obama first / verified): {right}/{count}")
            print("  (cpu = the server process's CPU per request, 10 ms resolution)")
    finally:
        stop_group(server)


def _is_up(client: Any, port: int) -> bool:
    import httpx

    try:
        return bool(client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200)
    except httpx.HTTPError:  # refused or reset while uvicorn starts: not up yet
        return False


# --- 3. worker throughput -----------------------------------------------------------------------
def redis_url_for_bench(url: str, db: int) -> str:
    """``url`` on database ``db``: the bench never touches the portal's own Redis database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def start_worker(var_dir: Path, redis_url: str) -> subprocess.Popen[bytes]:
    env = embedded_environment(var_dir)
    env.update(REDIS_URL=redis_url, CELERY_TASK_ALWAYS_EAGER="false", LOG_LEVEL="WARNING")
    log = (var_dir / "worker.log").open("wb")
    command = ["-A", "portal", "worker", "-Q", "biometrics", "-c", "2", "--pool", "prefork"]
    return subprocess.Popen(  # noqa: S603 - a fixed command line of our own
        [sys.executable, "-m", "celery", *command, "--loglevel", "WARNING"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def bench_worker(
    photos: dict[str, bytes], var_dir: Path, redis_url: str | None, db: int, count: int
) -> None:
    if not redis_url:
        print("3. worker throughput: skipped, REDIS_URL is not set (e.g. redis://127.0.0.1:6379)")
        return
    from celery import Celery

    from biometrics import services
    from biometrics.models import Enrollment
    from biometrics.tasks import BIOMETRICS_QUEUE, enrollment_process_task

    url = redis_url_for_bench(redis_url, db)
    tenant = tenant_create("bench-worker")
    warmup = 4
    ids = []
    with enrollments_not_dispatched():
        for i in range(warmup + count):
            subject = consented_subject(tenant, f"worker-{i}")
            enrollment = services.enrollment_create(
                organization=tenant.organization,
                subject=subject,
                images=[photos[PHOTO_NAMES[i % len(PHOTO_NAMES)]]],
                actor=None,
                allow_duplicates=True,
            )
            ids.append(enrollment.pk)
    sender = Celery("bench-sender", broker=url)
    with sender.connection_for_write() as connection:
        connection.default_channel.queue_purge(BIOMETRICS_QUEUE)  # leftovers of an aborted run

    def send(enrollment_ids: list[int]) -> None:
        for pk in enrollment_ids:
            sender.send_task(
                enrollment_process_task.name,
                args=[pk, tenant.organization.pk],
                queue=BIOMETRICS_QUEUE,
            )

    def finished(enrollment_ids: list[int]) -> bool:
        pending = Enrollment.objects.filter(pk__in=enrollment_ids, completed_at__isnull=True)
        return not pending.exists()

    print(
        f"3. worker throughput: celery -A portal worker -Q biometrics -c 2 on {url}, SQLite (WAL); "
        f"{count} single-photo enrollments queued at once after {warmup} warm-up jobs"
    )
    started = time.perf_counter()
    worker = start_worker(var_dir, url)
    try:
        send(ids[:warmup])
        if not wait_for(lambda: finished(ids[:warmup]), 300, every=0.2):
            print(f"  warm-up jobs did not finish; see {var_dir / 'worker.log'}")
            return
        print(f"  worker start + warm-up jobs: {time.perf_counter() - started:.1f} s")
        time.sleep(1.0)  # let both pool processes settle after the warm-up burst
        timed = ids[warmup:]
        cpu, started = tree_cpu_seconds(worker.pid), time.perf_counter()
        send(timed)
        completed = wait_for(lambda: finished(timed), 600)
        wall = time.perf_counter() - started
        cpu = tree_cpu_seconds(worker.pid) - cpu
    finally:
        stop_group(worker)
        sender.close()
    statuses = list(Enrollment.objects.filter(pk__in=timed).values_list("status", flat=True))
    print(
        f"  {'completed jobs/s (2 processes)':34} {len(timed) / wall:7.2f} jobs/s over "
        f"{wall:5.1f} s wall; worker CPU {cpu:5.1f} s = {cpu / len(timed) * 1000:6.0f} ms/job"
        + ("" if completed else "  (TIMED OUT: not every job finished)")
    )
    print(f"  outcomes: {summarize(statuses)}")


# --- 4. search alone ----------------------------------------------------------------------------
def bench_search(sizes: tuple[int, ...], runs: int) -> None:
    import biometrics_search  # bench/biometrics_search.py, on sys.path above

    print(
        f"4. 1:N search alone (bench/biometrics_search.py); target 1M <= {TARGET_SEARCH_1M_MS} ms"
    )
    biometrics_search.bench_search(list(sizes), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, no 1M gallery")
    parser.add_argument("--redis-db", type=int, default=9, help="Redis database for section 3")
    parser.add_argument("--keep", action="store_true", help="keep the temporary PORTAL_VAR_DIR")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    redis_url = os.environ.get("REDIS_URL")
    var_dir = Path(tempfile.mkdtemp(prefix="bench-biometrics-"))
    print(f"bench/biometrics.py{' --quick' if args.quick else ''}: PORTAL_VAR_DIR={var_dir}")
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (shared machine)")
    try:
        setup_django(var_dir)
        from biometrics.engine import is_engine_installed
        from tests.biometrics.photos import fetch_real_photos

        if not is_engine_installed():
            print(
                "engine not installed (pip install -r requirements/bio.txt): sections 1-3 skipped"
            )
        else:
            photos = {n: p.read_bytes() for n, p in fetch_real_photos().items()}
            bench_enrollment(photos, sizes.enrollments)
            bench_api(photos, var_dir, sizes.requests)
            bench_worker(photos, var_dir, redis_url, args.redis_db, sizes.worker_jobs)
        bench_search(sizes.search_sizes, sizes.search_runs)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
