"""The whole loop with a real Celery worker process and the real broker:
upload -> train -> score -> review -> retrain."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import client_for, wait_for
from tests.factories import SiteFactory, UserFactory, normal_images, odd_images
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringJob
from webapp.sites.services import create_site

pytestmark = pytest.mark.worker


def _upload(client, purpose, named):  # type: ignore[no-untyped-def]
    files = [SimpleUploadedFile(name, data) for name, data in named]
    response = client.post(
        "/api/sites/meadow/uploads/", {"purpose": purpose, "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _finished_version(client, version_id: int) -> dict:  # type: ignore[type-arg]
    def done() -> dict | None:  # type: ignore[type-arg]
        body = client.get(f"/api/versions/{version_id}/").json()
        return body if body["status"] in {"succeeded", "failed"} else None

    return wait_for(done, timeout=180, what=f"version {version_id} to finish training")


def test_upload_train_score_review_retrain(worker, worker_log):
    admin = UserFactory(username="curator")
    create_site(creator=admin, slug="meadow", name="Meadow")
    client = client_for(admin)

    _upload(client, "train", normal_images(40))
    response = client.post(
        "/api/sites/meadow/versions/", {"kind": "histogram_iforest"}, format="json"
    )
    assert response.status_code == 202
    first = _finished_version(client, response.json()["id"])
    assert first["status"] == "succeeded", f"{first['error']}\n{worker_log()[-3000:]}"
    assert first["is_active"]

    scored = _upload(client, "score", [*odd_images(5), *normal_images(5, start=500)])
    odd_ids = {a["id"] for a in scored["assets"] if a["filename"].startswith("odd")}
    wait_for(
        lambda: ScoringJob.objects.filter(status=JobStatus.SUCCEEDED).exists(),
        timeout=120,
        what="the scoring job",
    )
    flags = client.get("/api/sites/meadow/flags/?status=pending").json()["results"]
    flagged = {f["asset"] for f in flags}
    assert odd_ids <= flagged, f"odd images not all flagged: {flags}"

    rejected = flags[-1]
    review = client.post(f"/api/flags/{rejected['id']}/review/", {"decision": "reject"})
    assert review.status_code == 200
    confirmed = flags[0]  # highest score: one of the odd images
    assert confirmed["asset"] in odd_ids
    review = client.post(f"/api/flags/{confirmed['id']}/review/", {"decision": "confirm"})
    assert review.status_code == 200

    response = client.post(
        "/api/sites/meadow/versions/", {"kind": "histogram_iforest"}, format="json"
    )
    second = _finished_version(client, response.json()["id"])
    assert second["status"] == "succeeded", second["error"]
    manifest = DetectorVersion.objects.get(pk=second["id"]).manifest
    assert rejected["asset"] in manifest["fit"] + manifest["holdout"]
    assert len(manifest["fit"]) + len(manifest["holdout"]) == 41
    assert manifest["anomalies"] == [confirmed["asset"]]
    assert second["metrics"]["n_anomalous"] == 1


def test_failed_training_in_worker_is_reported(worker):
    admin = UserFactory(username="curator")
    site = SiteFactory(slug="meadow")
    from webapp.sites.services import set_membership

    set_membership(site=site, username="curator", role="admin")
    client = client_for(admin)
    _upload(client, "train", normal_images(6))
    response = client.post(
        "/api/sites/meadow/versions/",
        {
            "kind": "histogram_iforest",
            "params": {"estimator": "local_outlier_factor", "n_neighbors": 50},
        },
        format="json",
    )
    assert response.status_code == 202
    failed = _finished_version(client, response.json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"]
    assert client.get("/api/sites/meadow/").json()["active_version"] is None
