"""Every registered detector kind trains and scores through the API and the task code.

Small parameters keep it quick on a CPU; the benchmarks measure the real settings.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from detection.registry import available_kinds, detector_class
from tests.factories import normal_images, odd_images
from tests.images import green_texture, png_bytes, red_texture
from tests.object_images import known_set, shape_image
from tests.vidfiles import clip_bytes
from webapp.review.models import Score

pytestmark = pytest.mark.django_db

FAST_PARAMS = {
    "auto": {"candidate_params": {"deep_knn": {"image_size": 64}}},
    "histogram_iforest": {"estimator": "isolation_forest", "n_estimators": 50},
    "deep_knn": {"image_size": 64},
    "patch_autoencoder": {"image_size": 64, "steps": 60},
    "classifier_openset": {"image_size": 64, "epochs": 2},
    "video_autoencoder": {
        "frame_width": 32,
        "cube_length": 4,
        "train_stride": 2,
        "score_stride": 2,
        "width": 4,
        "hidden_channels": 4,
        "epochs": 12,
        "batch_size": 4,
        "region": 8,
        "smooth_frames": 1,
        "device": "cpu",
    },
    "motion_energy": {"frame_width": 32, "region": 8, "smooth_frames": 1},
    "ssd_openset": {"image_size": 64, "epochs": 2, "batch_size": 4, "candidates": 5},
}


def _upload(client, purpose, named):  # type: ignore[no-untyped-def]
    files = [SimpleUploadedFile(name, data) for name, data in named]
    response = client.post(
        "/api/sites/park/uploads/", {"purpose": purpose, "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()["assets"]


def test_every_kind_has_fast_test_params() -> None:
    assert set(available_kinds()) <= set(FAST_PARAMS), "add the new kind to FAST_PARAMS"


@pytest.mark.parametrize("kind", sorted(FAST_PARAMS))
def test_kind_trains_scores_and_flags_through_the_api(kind, api, run_tasks):  # type: ignore[no-untyped-def]
    if kind not in available_kinds():
        pytest.skip(f"{kind} is not installed")
    if detector_class(kind).temporal:
        _temporal_kind_through_the_api(kind, api, run_tasks)
        return
    if detector_class(kind).needs_boxes:
        _object_kind_through_the_api(kind, api, run_tasks)
        return
    uploader, admin = api("uploader"), api("admin")
    train = _upload(uploader, "train", normal_images(12))
    if detector_class(kind).needs_labels:
        train += _upload(
            uploader, "train", [(f"red-{i}.png", png_bytes(red_texture(i))) for i in range(12)]
        )
        for asset in train:
            label = "poppy" if asset["filename"].startswith("red") else "fern"
            response = uploader.patch(f"/api/assets/{asset['id']}/", {"label": label})
            assert response.status_code == 200, response.json()

    with run_tasks():
        response = admin.post(
            "/api/sites/park/versions/", {"kind": kind, "params": FAST_PARAMS[kind]}, format="json"
        )
    assert response.status_code == 202, response.json()
    version = admin.get(f"/api/versions/{response.json()['id']}/").json()
    assert version["status"] == "succeeded", version["error"]
    assert version["is_active"] and version["threshold"] is not None

    with run_tasks():
        scored = _upload(uploader, "score", odd_images(2))
    scores = Score.objects.filter(asset_id__in=[a["id"] for a in scored], version_id=version["id"])
    assert scores.count() == 2
    if kind != "classifier_openset":  # "unknown" is all it promises; the others must flag
        assert all(s.is_flagged for s in scores)
    if kind in {"deep_knn", "patch_autoencoder"}:  # kinds that localise keep an overlay
        assert all(s.heatmap for s in scores)


def test_auto_is_the_default_kind_and_the_version_says_what_it_chose(api, run_tasks, client, users):  # type: ignore[no-untyped-def]
    uploader, admin = api("uploader"), api("admin")
    _upload(uploader, "train", normal_images(12))
    with run_tasks():  # no kind given: auto, with the candidates' own fast parameters
        response = admin.post(
            "/api/sites/park/versions/", {"params": FAST_PARAMS["auto"]}, format="json"
        )
    assert response.status_code == 202, response.json()
    version = admin.get(f"/api/versions/{response.json()['id']}/").json()
    assert version["kind"] == "auto" and version["status"] == "succeeded", version["error"]
    choice = version["metrics"]["auto"]
    assert choice["chosen"] in {"histogram_iforest", "deep_knn"}
    assert choice["compared_on"] == "synthetic anomalies" and len(choice["table"]) == 2
    assert version["calibration"]["n_calibration"] == 12  # the winner cross-fitted
    client.force_login(users["admin"])
    page = client.get(f"/versions/{version['id']}/", follow=True).content.decode()
    assert f'Kind chosen automatically: <span class="mono">{choice["chosen"]}</span>' in page
    assert f"auto → {choice['chosen']}" in page


def _object_kind_through_the_api(kind, api, run_tasks):  # type: ignore[no-untyped-def]
    """Object kinds: classes and boxes through the API, train, score: boxes on each score.

    Two epochs only prove the wiring; flagging the unknown object is the e2e test's job.
    """
    uploader, admin = api("uploader"), api("admin")
    for name in ("square", "circle"):
        assert admin.post("/api/sites/park/classes/", {"name": name}).status_code == 201
    images, boxes = known_set(12)
    train = _upload(
        uploader, "train", [(f"k{i}.png", png_bytes(im)) for i, im in enumerate(images)]
    )
    for asset, image_boxes in zip(train, boxes, strict=True):
        payload = [box.to_dict() for box in image_boxes]
        response = uploader.put(f"/api/assets/{asset['id']}/boxes/", payload, format="json")
        assert response.status_code == 200, response.json()
    with run_tasks():
        response = admin.post(
            "/api/sites/park/versions/", {"kind": kind, "params": FAST_PARAMS[kind]}, format="json"
        )
    assert response.status_code == 202, response.json()
    version = admin.get(f"/api/versions/{response.json()['id']}/").json()
    assert version["status"] == "succeeded", version["error"]
    assert version["is_active"] and version["threshold"] is not None
    odd, _ = shape_image(np.random.default_rng(7), ["triangle"])
    with run_tasks():
        scored = _upload(uploader, "score", [("odd.png", png_bytes(odd))])
    score = Score.objects.get(asset_id=scored[0]["id"], version_id=version["id"])
    assert isinstance(score.details["boxes"], list) and "reasons" in score.details


def _temporal_kind_through_the_api(kind, api, run_tasks):  # type: ignore[no-untyped-def]
    """Video kinds: train on normal clips, score a clip with an event, one segment on it."""
    uploader, admin = api("uploader"), api("admin")
    admin.patch("/api/sites/park/", {"video_sample_fps": 0}, format="json")
    with run_tasks():
        _upload(uploader, "train", [("a.mp4", clip_bytes(40, seed=1))])
        _upload(uploader, "train", [("b.mp4", clip_bytes(30, seed=2))])
    with run_tasks():
        response = admin.post(
            "/api/sites/park/versions/", {"kind": kind, "params": FAST_PARAMS[kind]}, format="json"
        )
    assert response.status_code == 202, response.json()
    version = admin.get(f"/api/versions/{response.json()['id']}/").json()
    assert version["status"] == "succeeded", version["error"]
    assert version["is_active"] and version["threshold"] is not None
    assert version["manifest_counts"]["fit"] + version["manifest_counts"]["holdout"] == 70
    with run_tasks():
        (video,) = _upload(uploader, "score", [("c.mp4", clip_bytes(40, seed=4, event=(20, 30)))])
    curve = admin.get(f"/api/assets/{video['id']}/frame-scores/").json()
    assert all(frame["score"] is not None for frame in curve["frames"])
    flags = admin.get("/api/sites/park/flags/?status=pending").json()["results"]
    on_event = [f for f in flags if f["start_frame"] <= 29 and f["end_frame"] >= 20]
    assert len(on_event) == 1, (
        curve["threshold"],
        " ".join(f"{f['score']:.3f}" for f in curve["frames"]),
    )
    assert 20 <= on_event[0]["peak_frame"] <= 29


def test_a_label_aware_kind_without_labels_fails_with_the_reason(api, run_tasks):  # type: ignore[no-untyped-def]
    if "classifier_openset" not in available_kinds():
        pytest.skip("classifier_openset is not installed")
    _upload(api("uploader"), "train", normal_images(8))
    with run_tasks():
        response = api("admin").post(
            "/api/sites/park/versions/",
            {"kind": "classifier_openset", "params": FAST_PARAMS["classifier_openset"]},
            format="json",
        )
    version = api("admin").get(f"/api/versions/{response.json()['id']}/").json()
    assert version["status"] == "failed"
    assert "set a class label on each training asset" in version["error"]


def test_masks_of_confirmed_anomalies_give_the_next_version_a_pixel_auroc(api, run_tasks):  # type: ignore[no-untyped-def]
    uploader, admin, reviewer = api("uploader"), api("admin"), api("reviewer")
    _upload(uploader, "train", normal_images(12))
    params = {"kind": "deep_knn", "params": FAST_PARAMS["deep_knn"]}
    with run_tasks():
        admin.post("/api/sites/park/versions/", params, format="json")
    blotched = green_texture(500).copy()
    blotched[20:36, 20:36] = (200, 40, 220)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:36, 20:36] = 255
    with run_tasks():
        _upload(
            uploader,
            "score",
            [("blotch.png", png_bytes(blotched)), ("blotch_mask.png", png_bytes(mask))],
        )
    [flag] = reviewer.get("/api/sites/park/flags/").json()["results"]
    assert (
        reviewer.post(f"/api/flags/{flag['id']}/review/", {"decision": "confirm"}).status_code
        == 200
    )
    with run_tasks():
        response = admin.post("/api/sites/park/versions/", params, format="json")
    version = admin.get(f"/api/versions/{response.json()['id']}/").json()
    assert version["metrics"]["n_anomalous"] == 1
    assert version["metrics"]["pixel_auroc"] > 0.9
