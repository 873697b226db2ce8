"""Objects through the whole loop with a real Celery worker: label boxes (COCO import) ->
train ssd_openset -> score -> a flag with a box around the unknown object -> name it, reject
the flag -> retrain on it.

Red squares and blue circles are the site's classes; a green triangle is an object of no
known class (``tests/e2e/object_scenes.py``). Small 128 px images and few epochs keep it
to minutes on two CPU cores.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from detection.coco import to_coco
from detection.objects import iou
from tests.conftest import client_for, wait_for
from tests.e2e.object_scenes import SIZE, known_scenes, scene
from tests.factories import UserFactory
from tests.images import png_bytes
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringJob
from webapp.objects.models import Box
from webapp.sites.services import create_site

# The detector alone does not learn the shapes in CI time on 2 CPU cores (measured
# 2026-12-01: a 16-minute run reached known mAP 0.0). ``unknown_regions`` is what locates the
# triangle here, as on NEU-DET's compact defects: the patch map of the training photos
# stands out around it after 5 epochs and 7 s of training (2026-12-03).
pytestmark = [pytest.mark.worker]

N_TRAIN = 30
PARAMS = {"image_size": 128, "epochs": 5, "batch_size": 8, "unknown_regions": True}
#: A fixed threshold on the map's calibrated scale (1 = the 95th percentile of the training
#: photos' peaks). Calibrated, the threshold is the highest of the 6 held-out images' scores,
#: which for a detector this short-trained are noise (its candidates' openness, 0.28-0.53
#: here), so a plain image beats it with a chance of about 1 in 7 each: on a new machine on
#: 2026-12-03 one scored 0.67 against 0.53, before and after one box per map blob. The
#: triangles' regions peak at 6.7-8.2, the plain images stay below 0.7. Calibrating the
#: threshold is tested with the kind (tests/detection/test_ssd_openset.py).
THRESHOLD = {"threshold_method": "fixed", "fixed_threshold": 2.0}
#: The retrained version is only checked for what it learnt from: a few epochs do.
RETRAIN_PARAMS = {**PARAMS, "epochs": 3}
TRAINING_TIMEOUT = 600  # seconds: 2 busy CPU cores (about 10 s when free)


def _upload(client, purpose, named):  # type: ignore[no-untyped-def]
    files = [SimpleUploadedFile(name, data) for name, data in named]
    response = client.post(
        "/api/sites/yard/uploads/", {"purpose": purpose, "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _trained(client, worker_log, params) -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = client.post(
        "/api/sites/yard/versions/",
        {"kind": "ssd_openset", "params": params, **THRESHOLD},
        format="json",
    )
    assert response.status_code == 202, response.json()
    version_id = response.json()["id"]

    def done() -> dict | None:  # type: ignore[type-arg]
        body = client.get(f"/api/versions/{version_id}/").json()
        return body if body["status"] in {"succeeded", "failed"} else None

    version = wait_for(done, timeout=TRAINING_TIMEOUT, what=f"version {version_id} to train")
    assert version["status"] == "succeeded", f"{version['error']}\n{worker_log()[-3000:]}"
    return version


def _xyxy(box: dict) -> tuple[float, float, float, float]:  # type: ignore[type-arg]
    return (box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"])


def test_label_train_score_flag_name_reject_retrain(worker, worker_log):
    admin = UserFactory(username="curator")
    create_site(creator=admin, slug="yard", name="Yard")
    client = client_for(admin)
    for name in ("square", "circle"):
        assert client.post("/api/sites/yard/classes/", {"name": name}).status_code == 201

    # Known-normal images, labelled through a COCO file (as from a labelling tool).
    scenes = known_scenes(N_TRAIN)
    names = [f"known-{i:02d}.png" for i in range(N_TRAIN)]
    _upload(client, "train", [(n, png_bytes(s[0])) for n, s in zip(names, scenes, strict=True)])
    coco = to_coco(
        [(n, SIZE, SIZE, boxes) for n, (_, boxes) in zip(names, scenes, strict=True)],
        ["square", "circle"],
    )
    imported = client.post("/api/sites/yard/coco/", coco, format="json").json()
    assert len(imported["matched"]) == N_TRAIN and imported["unmatched"] == []
    assert Box.objects.count() == sum(len(boxes) for _, boxes in scenes)

    first = _trained(client, worker_log, PARAMS)
    assert first["is_active"]
    objects = first["metrics"]["objects"]
    assert objects["n_known_objects"] > 0 and objects["map_50"] is not None

    # New images: three with a green triangle beside a square, three plain ones (one known
    # object each: fewer objects than some held-out images, so the calibrated threshold, the
    # worst held-out image's score, does not sit just above them by chance).
    odd = {f"odd-{i}.png": scene(100 + i, ["square", "triangle"]) for i in range(3)}
    plain = {f"plain-{i}.png": scene(200 + i, [["square", "circle"][i % 2]]) for i in range(3)}
    scored = _upload(client, "score", [(n, png_bytes(s[0])) for n, s in {**odd, **plain}.items()])
    ids = {a["filename"]: a["id"] for a in scored["assets"]}
    wait_for(
        lambda: ScoringJob.objects.filter(status=JobStatus.SUCCEEDED).exists(),
        timeout=300,
        what="the scoring job",
    )
    listed = client.get("/api/sites/yard/flags/?page_size=50").json()["results"]
    flags = {f["filename"]: f for f in listed}
    for name, (_, truth) in odd.items():
        assert name in flags, f"{name} is not flagged: {sorted(flags)}"
        triangle = next(b for b in truth if b.label == "triangle").xyxy
        around = [
            b for b in flags[name]["boxes"] if b["unknown"] and iou(_xyxy(b), triangle) >= 0.3
        ]
        assert around, f"no unknown box around the triangle of {name}: {flags[name]['boxes']}"
        # one box per blob of the map, fitted to it (measured: IoU 0.6-0.7), not a nest of cuts
        unknown = [b for b in flags[name]["boxes"] if b["unknown"]]
        assert len(unknown) == 1 and iou(_xyxy(unknown[0]), triangle) >= 0.5, unknown
        assert all("unlike every known class" in b["reason"] for b in around)
        assert any("unlikeness to the training photos" in b["reason"] for b in around)
    assert not set(plain) & set(flags), f"plain images flagged: {set(plain) & set(flags)}"

    # The reviewer names the triangle of one flag (an admin may add the class) and rejects
    # it: the image is normal, with a triangle; another is confirmed as an anomaly.
    named, confirmed = flags["odd-0.png"], flags["odd-1.png"]
    index = next(i for i, b in enumerate(named["boxes"]) if b["unknown"])
    response = client.post(
        f"/api/flags/{named['id']}/name-object/", {"box": index, "label": "triangle"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (
        client.post(f"/api/flags/{named['id']}/review/", {"decision": "reject"}).status_code == 200
    )
    assert (
        client.post(f"/api/flags/{confirmed['id']}/review/", {"decision": "confirm"}).status_code
        == 200
    )
    labels = [b["label"] for b in client.get(f"/api/assets/{ids['odd-0.png']}/boxes/").json()]
    assert labels == ["triangle"]

    second = _trained(client, worker_log, RETRAIN_PARAMS)
    manifest = DetectorVersion.objects.get(pk=second["id"]).manifest
    assert ids["odd-0.png"] in manifest["fit"] + manifest["holdout"]
    assert len(manifest["fit"]) + len(manifest["holdout"]) == N_TRAIN + 1
    assert manifest["anomalies"] == [ids["odd-1.png"]]
    assert second["metrics"]["n_anomalous"] == 1
