"""Celery tasks of the biometrics queue: retries never duplicate, late acks, retention, warm-up.

In-process tests call the tasks the way a worker does (``task.apply``), with the real engine.
The end-to-end test through a real worker on Redis and PostgreSQL (``services``) kills the
worker mid-enrollment and checks the redelivered job finishes with exactly one template.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from biometrics import services, tasks
from biometrics.models import (
    Consent,
    Enrollment,
    EnrollmentImage,
    FaceTemplate,
    ProbeImage,
    Purpose,
    Subject,
)
from ledger.models import LedgerOutbox
from tests.biometrics.api_support import enrolled_subject, require_engine

REPO = Path(__file__).resolve().parents[2]


def queued_enrollment(world: Any, images: list[bytes], ref: str = "obama") -> Enrollment:
    """An enrollment created but not yet run (its on-commit task is not executed)."""
    subject = services.subject_create(
        organization=world.acme, external_ref=ref, display_name="", actor=world.alice
    )
    services.consent_grant(
        organization=world.acme,
        subject=subject,
        purpose=Purpose.ENROLLMENT,
        policy_version="1.0",
        method=Consent.Method.WRITTEN,
        granted_by=world.alice,
    )
    return services.enrollment_create(
        organization=world.acme, subject=subject, images=images, actor=world.alice
    )


def test_the_tasks_are_routed_to_the_biometrics_queue_with_late_acks() -> None:
    from portal.celery import app

    for task in (
        tasks.enrollment_process_task,
        tasks.verification_process_task,
        tasks.identification_process_task,
    ):
        route = app.amqp.router.route({}, task.name)
        assert route["queue"].name == "biometrics"
        assert task.acks_late is True and task.reject_on_worker_lost is True


@pytest.mark.deepface
def test_a_redelivered_enrollment_does_not_store_a_second_template(
    engine_ready: None, world: Any, real_photos: dict[str, bytes]
) -> None:
    # given an enrollment of two photos, delivered once and processed
    enrollment = queued_enrollment(world, [real_photos["obama.jpg"], real_photos["obama2.jpg"]])
    first = tasks.enrollment_process_task.apply(args=[enrollment.pk, world.acme.pk]).get()
    # when the broker redelivers the same message (acks_late after a lost ack)
    second = tasks.enrollment_process_task.apply(args=[enrollment.pk, world.acme.pk]).get()
    # then the job is done once: two templates, two enrolled commitments, attempts counted once
    assert first == second == "succeeded"
    assert FaceTemplate.objects.filter(enrollment=enrollment).count() == 2
    assert LedgerOutbox.objects.filter(tx_type="biometric_commitment").count() == 2
    assert Enrollment.objects.get(pk=enrollment.pk).attempts == 1


@pytest.mark.deepface
def test_a_job_whose_worker_died_mid_way_is_finished_by_the_retry(
    engine_ready: None, world: Any, real_photos: dict[str, bytes]
) -> None:
    # given a job a worker had started (processing, 40 %) when it was killed
    enrollment = queued_enrollment(world, [real_photos["obama.jpg"]])
    Enrollment.objects.filter(pk=enrollment.pk).update(status="processing", progress=40, attempts=1)
    # when the message is redelivered to another worker
    status = tasks.enrollment_process_task.apply(args=[enrollment.pk, world.acme.pk]).get()
    # then it finishes with one template, and the photos are gone
    done = Enrollment.objects.get(pk=enrollment.pk)
    assert (status, done.status, done.progress, done.attempts) == ("succeeded", "succeeded", 100, 2)
    assert FaceTemplate.objects.filter(enrollment=enrollment).count() == 1
    assert EnrollmentImage.objects.count() == 0


@pytest.mark.deepface
def test_a_consent_revoked_while_queued_stops_the_enrollment(
    engine_ready: None, world: Any, real_photos: dict[str, bytes]
) -> None:
    enrollment = queued_enrollment(world, [real_photos["obama.jpg"]])
    services.consent_revoke(
        organization=world.acme, consent=Consent.objects.get(), actor=world.alice
    )
    assert (
        tasks.enrollment_process_task.apply(args=[enrollment.pk, world.acme.pk]).get() == "failed"
    )
    done = Enrollment.objects.get(pk=enrollment.pk)
    assert done.error_code == "consent_required"
    assert FaceTemplate.objects.count() == EnrollmentImage.objects.count() == 0


@pytest.mark.deepface
def test_retention_erases_templates_unused_past_the_period(
    engine_ready: None,
    world: Any,
    alice: Any,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given acme keeps templates 30 days, and obama's was last used 31 days ago
    subject_id = enrolled_subject(
        alice,
        "acme",
        "obama",
        django_capture_on_commit_callbacks,
        "obama.jpg",
        real_photos["obama.jpg"],
    )
    services.settings_update(
        organization=world.acme, threshold=None, retention_days=30, actor=world.alice
    )
    template = FaceTemplate.objects.get(subject_id=subject_id)
    FaceTemplate.objects.filter(pk=template.pk).update(
        last_used_at=timezone.now() - timedelta(days=31)
    )
    ProbeImage.objects.create(organization=world.acme, nonce=b"", ciphertext=b"")
    ProbeImage.objects.update(created_at=timezone.now() - timedelta(hours=2))
    # when the periodic task runs
    result = tasks.retention_task.apply().get()
    # then the template is erased with its revocation commitment, the stale probe too
    assert result == {"templates": 1, "probes": 1}
    assert not FaceTemplate.objects.exists()
    assert LedgerOutbox.objects.filter(
        payload__action="revoked", payload__commitment=template.commitment
    ).exists()
    assert Subject.objects.get(pk=subject_id).status == "active"  # the person stays


def test_the_warm_up_skips_workers_that_do_not_serve_the_biometrics_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[bool] = []
    monkeypatch.setattr(tasks, "get_engine", lambda: loaded.append(True))
    monkeypatch.setattr(tasks, "_consumed_queues", lambda: {"default"})
    tasks.warm_engine()
    assert loaded == []
    assert tasks.serves_biometrics({"default", "biometrics"}) and tasks.serves_biometrics(set())


# --- a real worker (CI: Redis + PostgreSQL) ---------------------------------------------------


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            "biometrics",
            "-c",
            "1",
            "--pool",
            "prefork",
            "--loglevel",
            "WARNING",
        ],
        cwd=REPO,
        env=env,
        start_new_session=True,
    )


def _wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.deepface
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_enrollment_loses_nothing_and_duplicates_nothing(
    postgres: None,
    redis_url: str,
    world: Any,
    real_photos: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from portal.celery import app

    # The job is sent below, explicitly through the broker; the service's own on-commit
    # dispatch would run it in this process wherever tasks run eagerly.
    monkeypatch.setattr(tasks.enrollment_process_task, "delay", lambda *args: None)
    require_engine()
    db = connection.settings_dict
    env = {
        # A worker connects as the application role only (the owner role is for migrate).
        **{k: v for k, v in os.environ.items() if k != "DATABASE_MIGRATE_URL"},
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}"
        f":{db['PORT'] or 5432}/{db['NAME']}",
    }
    photos = [real_photos[n] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    # given an enrollment queued on the real broker and a worker that picks it up
    enrollment = queued_enrollment(world, photos)
    worker = _worker(env)
    try:
        # send_task always goes through the broker, even where tasks run eagerly by default
        app.send_task(tasks.enrollment_process_task.name, args=[enrollment.pk, world.acme.pk])
        assert _wait_for(
            lambda: Enrollment.objects.get(pk=enrollment.pk).status == "processing", 120
        )
        # when the worker is killed mid-job
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        worker = _worker(env)
        # then a new worker gets the redelivered job and finishes it, once
        assert _wait_for(lambda: Enrollment.objects.get(pk=enrollment.pk).is_finished, 180)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    done = Enrollment.objects.get(pk=enrollment.pk)
    assert done.status == "succeeded" and done.attempts >= 2
    assert FaceTemplate.objects.filter(enrollment=enrollment).count() == 3
