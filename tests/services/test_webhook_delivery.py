"""Webhook deliveries for real: the delivery task POSTs to an HTTP receiver this test starts
on 127.0.0.1, which checks the signature as the README tells receivers to.

Tasks run in-process (``run_tasks``); the backoff is made tiny by settings, so a retry
costs no waiting (in-process, Celery runs a delayed task at once anyway).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factories import normal_images, odd_images, upload_images
from webapp.hooks import signing
from webapp.hooks.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.01
    settings.WEBHOOK_TIMEOUT_SECONDS = 5


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool


@dataclass
class Receiver:
    url: str
    secret: str = ""
    #: status codes to answer, in turn (then 200); a bad signature is always answered 401
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on a free port of 127.0.0.1, in a thread, for the test's length."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = signing.verify(
                state.secret,
                body,
                self.headers.get(signing.TIMESTAMP_HEADER, ""),
                self.headers.get(signing.SIGNATURE_HEADER, ""),
            )
            state.requests.append(Received(dict(self.headers), body, signed))
            code = (state.answers.pop(0) if state.answers else 200) if signed else 401
            self.send_response(code)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"done" if code < 300 else b"oops")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hook?from=test"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def hook_for(api, receiver: Receiver, events: list[str]) -> dict:  # type: ignore[no-untyped-def]
    response = api("admin").post(
        "/api/sites/park/webhooks/", {"url": receiver.url, "events": events}, format="json"
    )
    assert response.status_code == 201, response.json()
    receiver.secret = response.json()["secret"]
    return response.json()


def deliveries(api, hook: dict) -> list[dict]:  # type: ignore[no-untyped-def]
    return api("admin").get(f"/api/sites/park/webhooks/{hook['id']}/deliveries/").json()["results"]


def test_a_500_is_retried_and_the_second_attempt_is_delivered_signed(api, run_tasks, receiver):
    hook = hook_for(api, receiver, ["flag.created"])
    receiver.answers = [500]
    with run_tasks():
        assert api("admin").post(f"/api/sites/park/webhooks/{hook['id']}/test/").status_code == 202
    first, second = receiver.requests
    assert first.signed and second.signed
    assert first.body == second.body  # the same bytes, signed afresh
    for name in (signing.DELIVERY_HEADER, signing.EVENT_HEADER):
        assert first.headers[name] == second.headers[name]
    assert first.headers[signing.EVENT_HEADER] == "ping"
    assert first.headers["Content-Type"] == "application/json"
    (log,) = deliveries(api, hook)
    assert log["delivery_id"] == first.headers[signing.DELIVERY_HEADER]
    assert log["status"] == "succeeded" and log["attempts"] == 2
    assert log["last_status_code"] == 200 and log["last_error"] == ""
    assert log["delivered_at"] and log["next_attempt_at"] is None
    assert [(a["number"], a["status_code"]) for a in log["attempt_log"]] == [(1, 500), (2, 200)]
    assert log["attempt_log"][0]["error"] == "HTTP 500: oops"


def test_a_rotated_secret_signs_from_then_on(api, run_tasks, receiver):
    hook = hook_for(api, receiver, ["flag.created"])
    old = receiver.secret
    rotated = api("admin").post(f"/api/sites/park/webhooks/{hook['id']}/rotate-secret/").json()
    with run_tasks():
        api("admin").post(f"/api/sites/park/webhooks/{hook['id']}/test/")
    assert receiver.requests[0].signed is False  # the receiver still knew the old secret
    (log,) = deliveries(api, hook)
    assert log["status"] == "failed" and log["last_status_code"] == 401
    assert "not retried" in log["last_error"]
    receiver.secret = rotated["secret"]
    assert receiver.secret != old
    with run_tasks():
        api("admin").post(f"/api/sites/park/webhooks/{hook['id']}/test/")
    assert receiver.requests[-1].signed
    assert deliveries(api, hook)[0]["status"] == "succeeded"


def test_a_receiver_that_never_answers_is_given_up_on(api, run_tasks, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    with socket.socket() as probe:  # a port of 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = (
        api("admin")
        .post(
            "/api/sites/park/webhooks/",
            {"url": f"http://127.0.0.1:{port}/", "events": ["flag.created"]},
            format="json",
        )
        .json()
    )
    with run_tasks():
        api("admin").post(f"/api/sites/park/webhooks/{hook['id']}/test/")
    (log,) = deliveries(api, hook)
    assert log["status"] == "failed" and log["attempts"] == 3
    assert log["last_error"].startswith("gave up after 3 attempts; last: ConnectionRefusedError")
    assert log["next_attempt_at"] is None and log["delivered_at"] is None


def test_the_address_policy_holds_at_delivery_too(api, run_tasks, receiver, settings):
    hook = hook_for(api, receiver, ["flag.created"])  # registered while LAN was allowed
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with run_tasks():
        api("admin").post(f"/api/sites/park/webhooks/{hook['id']}/test/")
    assert receiver.requests == []
    (log,) = deliveries(api, hook)
    assert log["status"] == "failed" and log["attempts"] == 1
    assert "127.0.0.1, a private or local address" in log["last_error"]


def test_training_and_scoring_tell_the_receiver(api, run_tasks, receiver, site, users):
    hook_for(api, receiver, ["training.succeeded", "flag.created", "scoring.finished"])
    upload_images(site, users["uploader"], "train", normal_images(8))
    with run_tasks():
        trained = api("admin").post(
            "/api/sites/park/versions/", {"kind": "histogram_iforest"}, format="json"
        )
    assert trained.status_code == 202
    site.refresh_from_db()  # the version it trained is active now
    with run_tasks():
        upload_images(site, users["uploader"], "score", [*normal_images(2, 50), *odd_images(2)])
    events = [r.headers[signing.EVENT_HEADER] for r in receiver.requests]
    assert all(r.signed for r in receiver.requests)
    assert events[0] == "training.succeeded"
    assert set(events[1:]) == {"flag.created", "scoring.finished"}
    assert Delivery.objects.filter(status="succeeded").count() == len(events)
