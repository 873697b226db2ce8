"""Video through the whole loop with a real Celery worker and broker: upload a normal clip,
extract its frames, train, upload a clip with an event, score it, see the event flagged as
one segment at the right frames, reject it, train again on its frames."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import client_for, wait_for
from tests.factories import UserFactory
from tests.vidfiles import clip_bytes
from webapp.detectors.models import DetectorVersion
from webapp.sites.services import create_site

pytestmark = pytest.mark.worker

EVENT = (40, 60)  # frames with the bright moving square, in an 80-frame clip at 10 fps


def _upload(client, purpose, name, data):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/sites/walkway/uploads/",
        {"purpose": purpose, "files": [SimpleUploadedFile(name, data)]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    (asset,) = response.json()["assets"]
    assert asset["status"] == "extracting"
    return asset["id"]


def _ready(client, asset_id: int) -> dict:  # type: ignore[type-arg]
    def done() -> dict | None:  # type: ignore[type-arg]
        video = client.get(f"/api/assets/{asset_id}/").json()["video"]
        return video if video["status"] in {"ready", "failed"} else None

    return wait_for(done, timeout=120, what=f"frames of video {asset_id}")


def _trained(client, worker_log) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = client.post(
        "/api/sites/walkway/versions/", {"kind": "histogram_iforest"}, format="json"
    )
    assert response.status_code == 202, response.json()
    version_id = response.json()["id"]

    def done() -> dict | None:  # type: ignore[type-arg]
        body = client.get(f"/api/versions/{version_id}/").json()
        return body if body["status"] in {"succeeded", "failed"} else None

    version = wait_for(done, timeout=180, what=f"version {version_id}")
    assert version["status"] == "succeeded", f"{version['error']}\n{worker_log()[-3000:]}"
    return version


def test_video_upload_train_score_segment_reject_retrain(worker, worker_log):
    admin = UserFactory(username="operator")
    create_site(creator=admin, slug="walkway", name="Walkway")
    client = client_for(admin)
    # 5 frames kept per second of these 10 fps clips: every other frame.
    train_id = _upload(client, "train", "normal.mp4", clip_bytes(80, seed=0))
    train_video = _ready(client, train_id)
    assert train_video["status"] == "ready", f"{train_video['error']}\n{worker_log()[-3000:]}"
    assert train_video["frames_stored"] == 40 and train_video["preview_url"]

    first = _trained(client, worker_log)
    assert (
        first["is_active"]
        and first["manifest_counts"]["fit"] + first["manifest_counts"]["holdout"] == 40
    )

    score_id = _upload(client, "score", "cart.mp4", clip_bytes(80, seed=0, event=EVENT))
    assert _ready(client, score_id)["status"] == "ready"

    def segment_flags() -> list[dict] | None:  # type: ignore[type-arg]
        rows = client.get("/api/sites/walkway/flags/?status=pending").json()["results"]
        curve = client.get(f"/api/assets/{score_id}/frame-scores/").json()
        scored = curve["frames"] and all(f["score"] is not None for f in curve["frames"])
        return rows if scored else None

    flags = wait_for(segment_flags, timeout=120, what="the score video to be scored")
    assert flags, "the event was not flagged"
    assert all(f["kind"] == "segment" and f["video"] == score_id for f in flags)
    on_event = [f for f in flags if f["start_frame"] <= EVENT[1] and EVENT[0] <= f["end_frame"]]
    assert len(on_event) == 1, flags
    event = on_event[0]
    # kept frames are the even ones: the event covers kept frames 40..58
    assert EVENT[0] <= event["start_frame"] <= EVENT[0] + 2, event
    assert EVENT[1] - 4 <= event["end_frame"] <= EVENT[1], event
    assert EVENT[0] <= event["peak_frame"] <= EVENT[1]

    review = client.post(f"/api/flags/{event['id']}/review/", {"decision": "reject"})
    assert review.status_code == 200

    second = _trained(client, worker_log)
    manifest = DetectorVersion.objects.get(pk=second["id"]).manifest
    used = set(manifest["fit"] + manifest["holdout"])
    curve = client.get(f"/api/assets/{score_id}/frame-scores/?version={first['id']}").json()
    segment_frames = {
        f["asset"]
        for f in curve["frames"]
        if event["start_frame"] <= f["index"] <= event["end_frame"]
    }
    assert segment_frames and segment_frames <= used
    assert len(used) == 40 + len(segment_frames)
