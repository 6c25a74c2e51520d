"""The web process never imports DeepFace (nor OpenCV, dlib or onnxruntime).

A fresh interpreter (so nothing imported by other tests counts) loads the URL configuration,
the biometrics views, API, services and tasks, and serves real requests against its own
migrated SQLite database with tasks going to a broker instead of running in process: creating
a subject, recording consent, queueing an identification (answered 202 because no worker is
listening) and rendering the pages. Then it lists which engine modules got imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.biometrics.photos import make_gradient_jpeg

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)

import portal.urls, biometrics.views, biometrics.api.views, biometrics.services, biometrics.tasks
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient
from tenants import services
from tenants.models import Membership, Organization

user = get_user_model().objects.create_user("alice", "alice@acme.example", None)
org = Organization.objects.create(slug="acme", name="Acme")
membership = Membership.objects.create(user=user, organization=org, role="owner")
_token, secret = services.token_create(membership=membership, name="t")
api = APIClient()
api.credentials(HTTP_AUTHORIZATION="Bearer " + secret)
statuses = {}
r = api.post("/api/v1/orgs/acme/subjects/", {"external_ref": "EMP-1"}, format="json")
statuses["create"] = r.status_code
subject = r.json()["id"]
r = api.post(f"/api/v1/orgs/acme/subjects/{subject}/consents/", {"purpose": "identification"},
             format="json")
statuses["consent"] = r.status_code
jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 200
from django.core.files.uploadedfile import SimpleUploadedFile
r = api.post("/api/v1/orgs/acme/identify/",
             {"image": SimpleUploadedFile("a.jpg", jpeg, content_type="image/jpeg")},
             format="multipart")
statuses["identify"] = r.status_code
statuses["identify_status"] = api.get(r.json()["status_url"]).json()["status"]
ui = Client()
ui.force_login(user)
for name, path in [("subjects_page", "/o/acme/subjects/"),
                   ("subject_page", f"/o/acme/subjects/{subject}/"),
                   ("enroll_page", f"/o/acme/subjects/{subject}/enroll/"),
                   ("identify_page", "/o/acme/identify/")]:
    statuses[name] = ui.get(path).status_code
engine = sorted(m for m in ("deepface", "cv2", "dlib", "onnxruntime", "tensorflow")
                if m in sys.modules)
print(json.dumps({"statuses": statuses, "engine_modules": engine}))
"""


@pytest.mark.slow
def test_the_web_process_serves_biometrics_without_importing_the_engine(tmp_path: Path) -> None:
    # given a clean interpreter with its own database and a broker (no in-process tasks)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DATABASE_MIGRATE_URL", "REDIS_URL", "CELERY_BROKER_URL")
        },
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_VAR_DIR": str(tmp_path),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": "memory://",
        "BIOMETRICS_SYNC_TIMEOUT": "0.2",
        "PORTAL_DB_CONTEXT": "none",
    }
    # when it serves the biometrics API and pages
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # then every request was served, the identification went to the queue (202, pending)
    assert report["statuses"] == {
        "create": 201,
        "consent": 201,
        "identify": 202,
        "identify_status": "pending",
        "subjects_page": 200,
        "subject_page": 200,
        "enroll_page": 200,
        "identify_page": 200,
    }
    # and no engine module was imported
    assert report["engine_modules"] == []


# --- the pages, in process (tasks run in process: the embedded default) ---------------------------


@pytest.mark.deepface
def test_the_enrollment_wizard_records_consent_enrolls_and_shows_the_face(
    world: object,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from biometrics.models import Consent, Subject
    from tests.biometrics.api_support import require_engine
    from tests.conftest import PASSWORD

    require_engine()
    ui = Client()
    assert ui.login(username="alice", password=PASSWORD)
    # given a subject created from the subjects page (which leads to the wizard)
    created = ui.post("/o/acme/subjects/", {"external_ref": "EMP-7", "display_name": "Ada"})
    subject = Subject.objects.get(external_ref="EMP-7")
    assert created.status_code == 302 and created["Location"].endswith(
        f"/subjects/{subject.pk}/enroll/"
    )
    wizard = ui.get(created["Location"])
    assert b"Step 1" in wizard.content and b"I agree that Acme Corporation" in wizard.content
    # when the wizard is submitted without ticking consent, nothing happens
    refused = ui.post(
        created["Location"],
        {
            "purposes": ["enrollment"],
            "method": "electronic",
            "images": SimpleUploadedFile("a.jpg", b"x"),
        },
    )
    assert refused.status_code == 200 and b"Consent is required" in refused.content
    assert not Consent.objects.exists()
    # and when it is submitted with consent and a photo
    with django_capture_on_commit_callbacks(execute=True):
        done = ui.post(
            created["Location"],
            {
                "consent_given": "on",
                "purposes": ["enrollment", "verification"],
                "method": "written",
                "images": SimpleUploadedFile(
                    "obama.jpg", real_photos["obama.jpg"], content_type="image/jpeg"
                ),
            },
        )
    # then consents are recorded by alice, and the enrollment page shows the face and quality
    assert done.status_code == 302
    assert sorted(Consent.objects.values_list("purpose", "granted_by__username")) == [
        ("enrollment", "alice"),
        ("verification", "alice"),
    ]
    page = ui.get(done["Location"])
    assert b"Succeeded" in page.content and b"Detected faces" in page.content
    assert b"Quality 1.00" in page.content
    # and a verification from the page answers on its result page
    verified = ui.post(
        f"/o/acme/subjects/{subject.pk}/verify/",
        {
            "image": SimpleUploadedFile(
                "o2.jpg", real_photos["obama2.jpg"], content_type="image/jpeg"
            )
        },
        follow=True,
    )
    assert b"Verified." in verified.content
    # and a photo without a face gets the clear message for its code
    no_face = ui.post(
        "/o/acme/identify/",
        {
            "image": SimpleUploadedFile("g.jpg", make_gradient_jpeg(), content_type="image/jpeg"),
            "top_k": 5,
        },
        follow=True,
    )
    assert b"No face was found in the image." in no_face.content


def test_a_refused_photo_in_the_wizard_keeps_no_consent_and_says_why(world: object) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from biometrics import services
    from biometrics.models import Consent, Enrollment
    from tests.conftest import PASSWORD

    # given a new subject and alice on the wizard
    subject = services.subject_create(
        organization=world.acme,
        external_ref="EMP-8",  # type: ignore[attr-defined]
        display_name="",
        actor=world.alice,
    )  # type: ignore[attr-defined]
    ui = Client()
    assert ui.login(username="alice", password=PASSWORD)
    # when consent is ticked but the "photo" is a text file named .jpg
    page = ui.post(
        f"/o/acme/subjects/{subject.pk}/enroll/",
        {
            "consent_given": "on",
            "purposes": ["enrollment"],
            "method": "verbal",
            "images": SimpleUploadedFile("me.jpg", b"just text", content_type="image/jpeg"),
        },
        follow=True,
    )
    # then the page says why, and neither the consent nor a job was kept
    assert b"Only JPEG, PNG and WebP images are accepted." in page.content
    assert not Consent.objects.exists() and not Enrollment.objects.exists()
