"""Tasks may run twice (acks_late redelivery): claims make the second run a no-op, and a job
whose worker died (stale heartbeat) can be claimed again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import normal_images, odd_images, upload_images
from webapp.detectors import services
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringChunk
from webapp.review.models import Flag, Score

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_version(site, users):  # type: ignore[no-untyped-def]
    upload_images(site, users["uploader"], "train", normal_images(12))
    return services.request_training(site=site, user=users["admin"], kind="histogram_iforest")


def test_training_runs_once_even_if_delivered_twice(queued_version):
    services.run_training(version_id=queued_version.pk)
    queued_version.refresh_from_db()
    artefact, finished = queued_version.artefact.name, queued_version.finished_at
    assert queued_version.status == JobStatus.SUCCEEDED
    calibration = queued_version.evaluation["holdout"]  # out of fold: every normal
    assert sorted(asset_id for asset_id, _ in calibration) == queued_version.manifest["fit"]
    assert len(calibration) == queued_version.metrics["n_calibration"] == 12
    assert all(score <= queued_version.threshold for _, score in calibration)  # 1 % target
    services.run_training(version_id=queued_version.pk)
    queued_version.refresh_from_db()
    assert (queued_version.artefact.name, queued_version.finished_at) == (artefact, finished)


def test_running_job_is_left_alone_but_stale_one_is_reclaimed(queued_version, settings):
    DetectorVersion.objects.filter(pk=queued_version.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now()
    )
    services.run_training(version_id=queued_version.pk)
    queued_version.refresh_from_db()
    assert queued_version.status == JobStatus.RUNNING  # another worker has it
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS + 5)
    DetectorVersion.objects.filter(pk=queued_version.pk).update(heartbeat_at=stale)
    services.run_training(version_id=queued_version.pk)
    queued_version.refresh_from_db()
    assert queued_version.status == JobStatus.SUCCEEDED


def test_scoring_chunk_twice_gives_one_score_and_one_flag_per_asset(queued_version, site, users):
    services.run_training(version_id=queued_version.pk)
    assets = upload_images(site, users["uploader"], "score", odd_images(3))
    site.refresh_from_db()
    job = services.request_scoring(site=site, version=site.active_version, assets=assets)
    chunk = ScoringChunk.objects.get(job=job)
    services.score_chunk(chunk_id=chunk.pk)
    ScoringChunk.objects.filter(pk=chunk.pk).update(status=JobStatus.QUEUED)  # redelivered
    services.score_chunk(chunk_id=chunk.pk)
    assert Score.objects.filter(asset__in=assets).count() == 3
    assert Flag.objects.filter(score__asset__in=assets).count() == 3


def test_flag_list_query_count_does_not_grow_with_flags(
    api, queued_version, site, users, django_assert_max_num_queries
):
    services.run_training(version_id=queued_version.pk)
    assets = upload_images(site, users["uploader"], "score", odd_images(6))
    site.refresh_from_db()
    job = services.request_scoring(site=site, version=site.active_version, assets=assets)
    for chunk in job.chunks.all():
        services.score_chunk(chunk_id=chunk.pk)
    client = api("reviewer")
    # (11: one of them the reviewer's opinions and one their known-answer checks on the
    # page, webapp.review.selectors.present; one their open checks, read before the list
    # so that it stays an index scan; one the evaluation of each version on the page, for
    # normalised scores, instead of decoding it once per flag; none grows with the flags)
    with django_assert_max_num_queries(11):
        response = client.get("/api/sites/park/flags/?status=pending")
    assert response.json()["count"] == 6
