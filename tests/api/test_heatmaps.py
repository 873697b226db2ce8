"""Heatmaps of localising kinds reach the review queue as overlay images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.factories import odd_images, upload_images
from webapp.assets.models import Purpose
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review.models import Score
from webapp.review.services import record_scores

pytestmark = pytest.mark.django_db


def test_flagged_assets_keep_a_heatmap_overlay_served_by_the_api(site, users, api):
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="deep_knn", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(2))
    heatmaps = []
    for asset in assets:
        heat = np.zeros((asset.height, asset.width), np.float32)
        heat[10:20, 30:40] = 0.9  # the "defect"
        heatmaps.append(heat)
    record_scores(version=version, assets=assets, scores=[0.9, 0.1], heatmaps=heatmaps)

    flagged, normal = (Score.objects.get(asset=a, version=version) for a in assets)
    assert flagged.heatmap and not normal.heatmap  # only what reviewers will look at

    [flag] = api("reviewer").get("/api/sites/park/flags/").json()["results"]
    assert flag["heatmap_url"] == f"/api/flags/{flag['id']}/heatmap/"
    response = api("viewer").get(flag["heatmap_url"])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    overlay = cv2.imdecode(
        np.frombuffer(b"".join(response.streaming_content), np.uint8), cv2.IMREAD_UNCHANGED
    )
    assert overlay.shape == (assets[0].height, assets[0].width, 4)  # BGRA, image size
    assert overlay[15, 35, 3] > 150 and overlay[50, 5, 3] == 0  # opaque only on the defect
    assert api("outsider").get(flag["heatmap_url"]).status_code == 404

    # Scored again (e.g. after re-scoring), the old overlay file is replaced, not leaked.
    old_name = flagged.heatmap.name
    record_scores(version=version, assets=assets[:1], scores=[0.8], heatmaps=heatmaps[:1])
    flagged.refresh_from_db()
    assert flagged.heatmap.storage.exists(flagged.heatmap.name)
    assert flagged.heatmap.name == old_name or not flagged.heatmap.storage.exists(old_name)


def test_kinds_without_heatmaps_have_none(site, users, api):
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(1))
    record_scores(version=version, assets=assets, scores=[0.9])
    [flag] = api("reviewer").get("/api/sites/park/flags/").json()["results"]
    assert flag["heatmap_url"] is None
    assert api("reviewer").get(f"/api/flags/{flag['id']}/heatmap/").status_code == 404
