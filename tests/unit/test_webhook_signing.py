"""Webhook signing and the rules of a delivery attempt, without a database or network."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest

from webapp.common.jobs import JobStatus
from webapp.hooks import signing, transport
from webapp.hooks.services import _verdict, retry_delay

SECRET = "whsec_test-secret"
BODY = b'{"event":"ping","data":{}}'


def test_signature_is_the_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.sign(SECRET, 1700000000, BODY) == f"sha256={expected}"


def test_verify_accepts_its_own_signature_within_the_tolerance():
    signature = signing.sign(SECRET, 1700000000, BODY)
    assert signing.verify(SECRET, BODY, "1700000000", signature, now=1700000000 + 299)
    assert signing.verify(SECRET, BODY, "1700000000", signature, now=1700000000 - 299)


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "now"),
    [
        ("whsec_other", BODY, "1700000000", 1700000000),  # another secret
        (SECRET, BODY + b" ", "1700000000", 1700000000),  # body changed
        (SECRET, BODY, "1700000001", 1700000001),  # timestamp changed: it is signed too
        (SECRET, BODY, "1700000000", 1700000000 + 301),  # replayed too late
        (SECRET, BODY, "not-a-number", 1700000000),
    ],
)
def test_verify_refuses_what_was_not_signed_so_or_is_too_old(secret, body, timestamp, now):
    signature = signing.sign(SECRET, 1700000000, BODY)
    assert not signing.verify(secret, body, timestamp, signature, now=now)


def test_retry_delays_grow_exponentially_up_to_the_cap(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    assert [retry_delay(n) for n in range(1, 7)] == [10, 40, 160, 640, 2560, 3600]


def _answer(code=None, error="", permanent=False):  # type: ignore[no-untyped-def]
    return transport.Answer(code, "oops" if code else "", error, 3, permanent)


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (_answer(204), JobStatus.SUCCEEDED, ""),
        (_answer(503), JobStatus.QUEUED, "HTTP 503: oops"),
        (_answer(429), JobStatus.QUEUED, "HTTP 429"),
        (_answer(error="ConnectionRefusedError: refused"), JobStatus.QUEUED, "refused"),
        (_answer(404), JobStatus.FAILED, "a 4xx answer is not retried"),
        (_answer(302), JobStatus.FAILED, "redirects are not followed"),
        (_answer(error="resolves to 10.0.0.2", permanent=True), JobStatus.FAILED, "10.0.0.2"),
    ],
)
def test_which_answers_are_retried(settings, answer, status, says):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    got, error = _verdict(answer, 1)
    assert got == status and says in error


def test_the_last_attempt_gives_up_with_the_reason(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    status, error = _verdict(_answer(500), 3)
    assert status == JobStatus.FAILED
    assert error == "gave up after 3 attempts; last: HTTP 500: oops"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.1.10", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert transport.is_public(address) is public


def test_a_refused_address_is_never_connected_to():
    answer = transport.post("http://127.0.0.1:9/hook", BODY, {}, timeout=1, allow_private=False)
    assert answer.status_code is None and answer.permanent
    assert "private or local address" in answer.error


def test_the_readme_example_verifies_our_signatures():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Webhooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(code, namespace)
    verify = namespace["verify"]
    now = int(time.time())
    assert verify(SECRET, BODY, str(now), signing.sign(SECRET, now, BODY))
    assert not verify(SECRET, BODY + b"x", str(now), signing.sign(SECRET, now, BODY))
    assert not verify(SECRET, BODY, str(now - 400), signing.sign(SECRET, now - 400, BODY))
