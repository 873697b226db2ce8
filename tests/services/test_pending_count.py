"""The per-site pending count that the database keeps (triggers of review 0008) stays
what counting the flags gives, whichever way flags are written, and every queue shows
the reviewer's own count from it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from tests.factories import SiteFactory, member, odd_images, trained_version, upload_images
from webapp.assets.models import Asset, Purpose
from webapp.detectors.services import activate_version
from webapp.review import quality
from webapp.review.models import Flag, FlagStatus, PendingFlagCount, Score
from webapp.review.selectors import COMPACT_AFTER, flags_for, pending_counts, pending_for
from webapp.review.services import record_scores, review_flag, undo_review
from webapp.sites.deletion import delete_site
from webapp.sites.models import Site
from webapp.sites.roles import Role

pytestmark = pytest.mark.django_db


def counted(site: Site) -> int:
    return Flag.objects.filter(site=site, status=FlagStatus.PENDING).count()


def kept(site: Site) -> int:
    return pending_counts([site.pk]).get(site.pk, 0)


def test_the_kept_count_follows_every_way_flags_are_written(site, users):
    other = SiteFactory(slug="orchard")
    first = trained_version(site, 1)
    activate_version(version=first)
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(6))
    record_scores(version=first, assets=assets, scores=[0.9, 0.8, 0.7, 0.6, 0.55, 0.2])
    assert kept(site) == counted(site) == 5
    assert kept(other) == counted(other) == 0

    flags = list(Flag.objects.filter(site=site).order_by("-score_value"))
    review_flag(flag_id=flags[0].pk, reviewer=users["reviewer"], decision="confirm")
    review_flag(flag_id=flags[1].pk, reviewer=users["reviewer"], decision="reject")
    assert kept(site) == counted(site) == 3
    undo_review(flag_id=flags[1].pk, user=users["reviewer"])
    assert kept(site) == counted(site) == 4
    # a write that leaves the status alone changes nothing
    Flag.objects.filter(pk=flags[2].pk).update(note="looked twice")
    assert kept(site) == 4

    # a newer model supersedes the flags of the images it scores, and flags them anew
    second = trained_version(site, 2)
    activate_version(version=second)
    record_scores(version=second, assets=assets[:3], scores=[0.95, 0.1, 0.1])
    assert kept(site) == counted(site)

    # bulk writes, as the ORM sends them, and moves between sites
    Flag.objects.filter(site=site, status=FlagStatus.SUPERSEDED).update(status=FlagStatus.PENDING)
    assert kept(site) == counted(site)
    moved = Flag.objects.filter(site=site, status=FlagStatus.PENDING).first()
    Flag.objects.filter(pk=moved.pk).update(site=other)
    assert (kept(site), kept(other)) == (counted(site), counted(other)) == (counted(site), 1)
    theirs = upload_images(other, users["uploader"], Purpose.SCORE, odd_images(3, start=10))
    scores = Score.objects.bulk_create(
        Score(asset=asset, version=first, score=0.9, threshold=0.5, is_flagged=True)
        for asset in theirs
    )
    clones = [
        Flag(site=other, score=score, status=FlagStatus.PENDING, score_value=0.9)
        for score in scores
    ]
    Flag.objects.bulk_create(clones)
    assert kept(other) == counted(other) == 4

    # deletions: flags, an asset (its scores and flags go with it), a whole site
    Flag.objects.filter(pk=clones[0].pk).delete()
    assert kept(other) == counted(other) == 3
    Asset.objects.filter(pk=assets[3].pk).delete()
    assert kept(site) == counted(site)
    delete_site(site=other, actor=users["admin"], confirmation="orchard")
    assert not PendingFlagCount.objects.filter(site_id=other.pk).exists()
    assert kept(site) == counted(site) > 0


def test_reading_folds_many_count_rows_into_one(site, users):
    first = trained_version(site, 1)
    activate_version(version=first)
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(COMPACT_AFTER + 4))
    record_scores(version=first, assets=assets, scores=[0.9] * len(assets))
    for flag in Flag.objects.filter(site=site)[: COMPACT_AFTER + 2]:  # a row each
        review_flag(flag_id=flag.pk, reviewer=users["reviewer"], decision="reject")
    rows = PendingFlagCount.objects.filter(site=site)
    assert rows.count() > COMPACT_AFTER
    assert kept(site) == counted(site) == 2  # (read before folding)
    assert rows.count() == 1 and kept(site) == 2
    for flag in Flag.objects.filter(site=site, status=FlagStatus.PENDING):
        review_flag(flag_id=flag.pk, reviewer=users["reviewer"], decision="confirm")
    assert kept(site) == counted(site) == 0


def test_each_reviewer_counts_the_queue_they_see(site, users):
    """Less the flags they gave an opinion on, plus an open known-answer check."""
    Site.objects.filter(pk=site.pk).update(
        second_opinion=True, known_answer_checks=True, known_answer_every=2
    )
    site.refresh_from_db()
    second = member(site, Role.REVIEWER, username="second")
    first = trained_version(site, 1)
    activate_version(version=first)
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(8))
    record_scores(version=first, assets=assets, scores=[0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55])
    flags = list(Flag.objects.filter(site=site).order_by("-score_value"))
    for flag in flags[:2]:  # known flags, to check reviewers with
        review_flag(flag_id=flag.pk, reviewer=users["admin"], decision="confirm")
    for flag in flags[2:5]:  # opinions that wait for a second reviewer
        review_flag(flag_id=flag.pk, reviewer=users["reviewer"], decision="reject")
    quality.serve_check(site=site, reviewer=second)
    assert quality.serve_check(site=site, reviewer=users["reviewer"]) is not None

    for user in (users["reviewer"], second, users["viewer"], users["admin"]):
        seen = flags_for(site, user, status=FlagStatus.PENDING).count()
        assert pending_for(site, user) == seen, user.username
    assert pending_for(site, users["reviewer"]) == 6 - 3 + 1
    assert pending_for(site, users["viewer"]) == kept(site) == 6


@pytest.mark.django_db(transaction=True)  # each thread its own connection and transaction
def test_a_review_does_not_wait_for_a_scoring_transaction_of_the_same_site(site, users):
    """A count row per change, not one counter row per site that every writer must lock:
    with one, a chunk that added flags (holding it) and then superseded the flag a
    reviewer was deciding (who waited for it) deadlocked with them."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time anyway")
    first = trained_version(site, 1)
    activate_version(version=first)
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(2))
    record_scores(version=first, assets=assets, scores=[0.9, 0.8])
    decided, added = list(Flag.objects.filter(site=site).order_by("-score_value"))
    inserted, reviewed = threading.Event(), threading.Event()
    errors: list[str] = []

    def scoring_transaction() -> None:
        try:
            with transaction.atomic():
                Flag.objects.filter(pk=added.pk).update(status=FlagStatus.REJECTED)
                Flag.objects.filter(pk=added.pk).update(status=FlagStatus.PENDING)
                inserted.set()  # (changed the count, and still open)
                if not reviewed.wait(timeout=10):
                    errors.append("the review waited for the scoring transaction")
                Flag.objects.filter(pk=decided.pk).update(note="superseded meanwhile")
        except Exception as exc:  # (reported by the test, not lost in the thread)
            errors.append(repr(exc))
        finally:
            connections.close_all()

    scoring = threading.Thread(target=scoring_transaction)
    scoring.start()
    try:
        assert inserted.wait(timeout=20)
        with transaction.atomic():
            review_flag(flag_id=decided.pk, reviewer=users["reviewer"], decision="confirm")
        reviewed.set()
    finally:
        reviewed.set()
        scoring.join(timeout=30)
    assert not scoring.is_alive() and errors == []
    assert kept(site) == counted(site) == 1
