"""The login form's lock-out: counted atomically, so parallel guesses cannot overrun it."""

from __future__ import annotations

import threading
import time

from django.contrib.auth import forms as auth_forms
from django.test import RequestFactory

from tenants.forms import RateLimitedAuthenticationForm


def test_parallel_guesses_check_at_most_the_allowed_number_of_passwords(
    settings,
    monkeypatch,
) -> None:
    # given a password check that takes a moment, as a real hash does
    settings.LOGIN_MAX_FAILURES = 5
    checks: list[str] = []
    lock = threading.Lock()

    def slow_wrong_password(request, **credentials):
        with lock:
            checks.append(credentials["password"])
        time.sleep(0.02)
        return None

    monkeypatch.setattr(auth_forms, "authenticate", slow_wrong_password)
    request = RequestFactory().post("/login/", REMOTE_ADDR="203.0.113.9")
    start = threading.Barrier(50)

    def guess(i: int) -> None:
        form = RateLimitedAuthenticationForm(
            request, data={"username": "alice", "password": f"guess-{i}"}
        )
        start.wait()
        form.is_valid()

    # when 50 guesses arrive at once
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then only five passwords were checked; the rest were locked out without a check
    assert len(checks) == 5


def test_a_locked_out_pair_gets_no_password_check(settings, monkeypatch) -> None:
    settings.LOGIN_MAX_FAILURES = 2
    calls: list[int] = []
    monkeypatch.setattr(auth_forms, "authenticate", lambda request, **kw: calls.append(1))
    request = RequestFactory().post("/login/", REMOTE_ADDR="203.0.113.9")
    for _ in range(4):
        form = RateLimitedAuthenticationForm(request, data={"username": "Alice", "password": "x"})
        assert not form.is_valid()
    assert len(calls) == 2
    assert form.errors["__all__"][0].startswith("Too many failed attempts")


def test_an_empty_password_does_not_reset_the_count(settings, monkeypatch) -> None:
    settings.LOGIN_MAX_FAILURES = 2
    calls: list[int] = []
    monkeypatch.setattr(auth_forms, "authenticate", lambda request, **kw: calls.append(1))
    request = RequestFactory().post("/login/", REMOTE_ADDR="203.0.113.9")
    for password in ("x", "", "y", "", "z"):
        RateLimitedAuthenticationForm(
            request, data={"username": "alice", "password": password}
        ).is_valid()
    assert len(calls) == 2


def test_a_forwarded_for_header_does_not_open_a_new_lock_out_window(settings, monkeypatch) -> None:
    settings.LOGIN_MAX_FAILURES = 2
    calls: list[int] = []
    monkeypatch.setattr(auth_forms, "authenticate", lambda request, **kw: calls.append(1))
    for i in range(4):
        request = RequestFactory().post(
            "/login/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}"
        )
        RateLimitedAuthenticationForm(
            request, data={"username": "alice", "password": "x"}
        ).is_valid()
    assert len(calls) == 2
