"""A real worker on S3 media, configured only by ``MEDIA_STORAGE=s3`` and ``AWS_*`` in its
environment and with a local media folder of its own (as on another machine): it trains on
images it reads from the bucket, stores the model there, extracts a video's frames from
it and scores them; the web process loads the same model from the bucket; deleting the
site empties the bucket."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.conftest import client_for, wait_for
from tests.factories import UserFactory, normal_images, odd_images
from tests.vidfiles import clip_bytes
from webapp.assets.models import Asset, MediaType, Video
from webapp.assets.selectors import AssetImages
from webapp.common.jobs import JobStatus
from webapp.detectors import services as detector_services
from webapp.detectors.models import DetectorVersion, ScoringJob
from webapp.review.models import Score
from webapp.sites.services import create_site

pytestmark = [pytest.mark.worker, pytest.mark.s3]


def _upload(client, purpose, named):  # type: ignore[no-untyped-def]
    files = [SimpleUploadedFile(name, data) for name, data in named]
    response = client.post(
        "/api/sites/yard/uploads/", {"purpose": purpose, "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_worker_on_s3_trains_extracts_and_scores_and_deletion_empties_the_bucket(
    s3, start_worker, worker_log
):
    start_worker(**s3.worker_env())
    admin = UserFactory(username="curator")
    create_site(creator=admin, slug="yard", name="Yard")
    client = client_for(admin)

    _upload(client, "train", normal_images(12))
    response = client.post(
        "/api/sites/yard/versions/", {"kind": "histogram_iforest"}, format="json"
    )
    assert response.status_code == 202, response.json()
    version_id = response.json()["id"]

    def trained() -> DetectorVersion | None:
        version = DetectorVersion.objects.get(pk=version_id)
        return version if version.status in {JobStatus.SUCCEEDED, JobStatus.FAILED} else None

    version = wait_for(trained, timeout=120, what="the training")
    assert version.status == JobStatus.SUCCEEDED, f"{version.error}\n{worker_log()[-3000:]}"
    assert version.artefact.name in s3.objects()

    scored = _upload(
        client,
        "score",
        [*odd_images(2), *normal_images(2, start=500), ("gate.mp4", clip_bytes(10))],
    )
    video_id = next(a["id"] for a in scored["assets"] if a["media_type"] == "video")

    def all_scored() -> bool:
        video = Video.objects.get(asset_id=video_id)
        assert video.status != JobStatus.FAILED, video.error
        assert not ScoringJob.objects.filter(status=JobStatus.FAILED).exists(), worker_log()
        jobs = ScoringJob.objects.filter(site__slug="yard")
        return (
            video.status == JobStatus.SUCCEEDED
            and jobs.count() == 2  # the images, then the frames once extracted
            and not jobs.exclude(status=JobStatus.SUCCEEDED).exists()
        )

    wait_for(all_scored, timeout=120, what="extraction and scoring")
    video = Video.objects.select_related("asset").get(asset_id=video_id)
    frames = list(Asset.objects.filter(source_video_id=video_id).order_by("frame_index"))
    assert len(frames) == 5
    keys = s3.objects()
    assert {video.asset.file.name, video.preview.name, *(f.file.name for f in frames)} <= keys
    images = list(Asset.objects.filter(upload_id=scored["id"], media_type=MediaType.IMAGE))
    scores = dict(Score.objects.filter(version=version).values_list("asset_id", "score"))
    assert set(scores) == {a.pk for a in [*images, *frames]}

    # The web process loads the model the worker stored and scores as the worker did.
    detector_services._detector_cache.clear()
    detector = detector_services.load_version_detector(version)
    again = detector.score(AssetImages(images)).scores
    np.testing.assert_allclose(again, [scores[a.pk] for a in images], rtol=1e-6)
    browser = Client()
    browser.force_login(admin)
    assert browser.get(f"/versions/{version.pk}/", follow=True).status_code == 200
    plot = browser.get(f"/versions/{version.pk}/plots/histogram.png")
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"

    response = client.delete("/api/sites/yard/?confirm=yard")
    assert response.status_code == 200, response.json()
    assert s3.objects() == set()
