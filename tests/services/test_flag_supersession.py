"""Flags are reviewers' work: a newer model supersedes pending flags instead of deleting
them, a rollback brings them back, and scoring is requested once per version."""

from __future__ import annotations

import pytest

from tests.factories import odd_images, trained_version, upload_images
from webapp.assets.models import Purpose
from webapp.common.errors import Conflict
from webapp.detectors.models import JobStatus, ScoringJob
from webapp.detectors.services import activate_version, request_scoring, rescore_site
from webapp.review.models import Flag, FlagStatus
from webapp.review.selectors import normal_training_assets
from webapp.review.services import record_scores, review_flag, undo_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(site, users):  # type: ignore[no-untyped-def]
    """Version 1 active with three pending flags; version 2 trained, not yet active."""
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(3))
    first, second = trained_version(site, 1), trained_version(site, 2)
    activate_version(version=first)
    record_scores(version=first, assets=assets, scores=[0.9, 0.8, 0.7])
    return first, second, assets


def status_of(asset, version) -> str:  # type: ignore[no-untyped-def]
    return Flag.objects.get(score__asset=asset, score__version=version).status


def test_activation_keeps_older_flags_as_superseded_with_the_newer_score(scored, api):
    first, second, assets = scored
    activate_version(version=second)
    # Until the new model has scored an image, its older flag stays in the queue.
    assert {status_of(a, first) for a in assets} == {FlagStatus.PENDING}
    record_scores(version=second, assets=assets, scores=[0.95, 0.2, 0.6])
    assert Flag.objects.filter(score__version=first).count() == 3  # nothing deleted
    assert {status_of(a, first) for a in assets} == {FlagStatus.SUPERSEDED}
    assert [status_of(a, second) for a in (assets[0], assets[2])] == [FlagStatus.PENDING] * 2
    old = Flag.objects.get(score__asset=assets[1], score__version=first)
    assert old.superseded_by.version == second and old.superseded_by.score == pytest.approx(0.2)

    listed = api("viewer").get(f"/api/sites/{second.site.slug}/flags/?status=superseded").json()
    by_asset = {row["asset"]: row for row in listed["results"]}
    assert set(by_asset) == {a.pk for a in assets}
    beside = by_asset[assets[1].pk]["superseded_by"]
    assert beside["version_number"] == 2 and beside["is_flagged"] is False
    assert beside["score"] == pytest.approx(0.2)
    pending = api("viewer").get(f"/api/sites/{second.site.slug}/flags/?status=pending").json()
    assert {row["version_number"] for row in pending["results"]} == {2}


def test_rollback_brings_the_older_flags_back(scored):
    first, second, assets = scored
    activate_version(version=second)
    record_scores(version=second, assets=assets, scores=[0.95, 0.2, 0.6])
    activate_version(version=first)
    assert {status_of(a, first) for a in assets} == {FlagStatus.PENDING}
    assert status_of(assets[0], second) == FlagStatus.SUPERSEDED
    assert Flag.objects.filter(status=FlagStatus.PENDING).count() == 3


def test_a_late_result_of_an_older_model_does_not_take_the_queue(scored):
    first, second, assets = scored
    activate_version(version=second)
    record_scores(version=second, assets=assets, scores=[0.95, 0.9, 0.9])
    record_scores(version=first, assets=assets, scores=[0.9, 0.8, 0.7])  # a slow chunk
    assert {status_of(a, first) for a in assets} == {FlagStatus.SUPERSEDED}
    assert {status_of(a, second) for a in assets} == {FlagStatus.PENDING}


def test_a_superseded_flag_is_reviewed_once(scored, users):
    first, second, assets = scored
    activate_version(version=second)
    record_scores(version=second, assets=assets, scores=[0.95, 0.2, 0.6])
    covered = Flag.objects.get(score__asset=assets[0], score__version=first)
    current = Flag.objects.get(score__asset=assets[0], score__version=second)
    with pytest.raises(Conflict, match=f"review flag {current.pk} instead"):
        review_flag(flag_id=covered.pk, reviewer=users["reviewer"], decision="confirm")

    # The newer model does not flag assets[1]: its old flag can still be decided, and labels.
    alone = Flag.objects.get(score__asset=assets[1], score__version=first)
    review_flag(flag_id=alone.pk, reviewer=users["reviewer"], decision="reject")
    assert assets[1] in normal_training_assets(second.site)
    record_scores(version=second, assets=assets[1:2], scores=[0.9])  # its label stands
    assert not Flag.objects.filter(score__asset=assets[1], score__version=second).exists()

    undone = undo_review(flag_id=alone.pk, user=users["reviewer"])
    assert undone.status == FlagStatus.SUPERSEDED  # its model is no longer the current one
    assert assets[1] not in normal_training_assets(second.site)


def test_scoring_is_requested_once_per_version(site, users):
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(4))
    active = trained_version(site, 1)
    site.active_version = active
    site.save()
    job = request_scoring(site=site, version=active, assets=assets[:3])
    rest = rescore_site(site=site)
    assert rest.pk != job.pk and rest.total == 1  # only the asset not already queued
    assert rescore_site(site=site).pk == rest.pk  # nothing new: the latest unfinished job
    queued = [
        asset_id
        for chunks in ScoringJob.objects.filter(version=active).values_list(
            "chunks__asset_ids", flat=True
        )
        for asset_id in chunks
    ]
    assert sorted(queued) == sorted(a.pk for a in assets)  # each asset once
    ScoringJob.objects.filter(version=active).update(status=JobStatus.SUCCEEDED)
    assert rescore_site(site=site).total == 4  # once finished, a re-score scores all again
