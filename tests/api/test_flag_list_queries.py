"""The pending flags list (API and review queue page) at scale: fixed query count, order.

``benchmarks/speed.py`` measures the latency with 100,000 flags; here are the behaviours
that latency rests on: a page costs the same queries however many flags and versions
the site has, and the queue's order (highest score first, then id) follows the score
that the flag's copy (``Flag.score_value``) keeps in step with.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.dashboard_data import FlagSpec, bare_assets, make_flags, version_of
from webapp.review.models import Flag, FlagStatus, Score
from webapp.review.services import record_scores

pytestmark = pytest.mark.django_db

OPENED = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _flags(site, version, count: int) -> list[Flag]:  # type: ignore[no-untyped-def]
    flags = make_flags(site, version, [FlagSpec(opened=OPENED)] * count)
    for index, flag in enumerate(flags):  # distinct scores, so the order is visible
        Score.objects.filter(pk=flag.score_id).update(score=0.6 + index / 1000)
        Flag.objects.filter(pk=flag.pk).update(score_value=0.6 + index / 1000)
    return flags


def _queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_pending_page_and_api_cost_the_same_queries_for_3_or_120_flags(site, users, api, client):  # type: ignore[no-untyped-def]
    """Neither the versions' JSON nor any relation is fetched once per flag (the held-out
    scores, for normalised scores, once per version and process: by the first request)."""
    first = version_of(site, 1, evaluation={"holdout": [[1, 0.1], [2, 0.3]], "anomalies": []})
    second = version_of(site, 2, evaluation={"holdout": [[3, 0.2]], "anomalies": []})
    _flags(site, first, 2)
    _flags(site, second, 1)
    client.force_login(users["reviewer"])
    reviewer = api("reviewer")
    url = f"/api/sites/{site.slug}/flags/?status=pending"
    page = f"/sites/{site.slug}/review/"
    _queries(reviewer, url)
    small = (_queries(client, page), _queries(reviewer, url))

    _flags(site, first, 60)
    _flags(site, second, 60)
    decided = Flag.objects.filter(site=site).order_by("id")[:5]
    Flag.objects.filter(pk__in=[f.pk for f in decided]).update(
        status=FlagStatus.REJECTED, reviewer=users["admin"]
    )
    # (the first read after many changes folds the site's count rows into one, once)
    assert _queries(client, page) <= small[0] + 4
    assert (_queries(client, page), _queries(reviewer, url)) == small

    listed = reviewer.get(url).json()
    assert listed["count"] == 123 - 5
    scores = [row["score"] for row in listed["results"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 50
    assert {row["version_number"] for row in listed["results"]} == {1, 2}
    assert all(row["normalised_score"] is not None for row in listed["results"])


def test_a_new_score_of_the_same_version_moves_its_flag_in_the_queue(site, users, api):  # type: ignore[no-untyped-def]
    version = version_of(site, 1)
    low, high = bare_assets(site, 2)
    record_scores(version=version, assets=[low, high], scores=[0.6, 0.9])
    url = f"/api/sites/{site.slug}/flags/?status=pending"
    assert [row["asset"] for row in api("viewer").get(url).json()["results"]] == [high.pk, low.pk]

    record_scores(version=version, assets=[low], scores=[0.95])
    flag = Flag.objects.get(score__asset=low)
    assert flag.score_value == pytest.approx(0.95) == flag.score.score
    assert [row["asset"] for row in api("viewer").get(url).json()["results"]] == [low.pk, high.pk]


def test_a_flag_made_without_its_score_value_takes_it_from_its_score(site):  # type: ignore[no-untyped-def]
    version = version_of(site, 1)
    (asset,) = bare_assets(site, 1)
    score = Score.objects.create(asset=asset, version=version, score=0.8, threshold=0.5)
    assert Flag.objects.create(site=site, score=score).score_value == pytest.approx(0.8)


def test_a_finished_versions_held_out_scores_are_read_once_per_process(site):  # type: ignore[no-untyped-def]
    """A page of flags reads each version's held-out scores once, not on every request;
    a version trained again (a new ``finished_at``) is read again."""
    from webapp.detectors.models import DetectorVersion
    from webapp.detectors.selectors import held_out_scores

    evaluation = {"holdout": [[1, 0.3], [2, 0.1]], "anomalies": [[3, 0.9]]}
    version = version_of(site, 1, evaluation=evaluation, finished_at=OPENED)
    fresh = DetectorVersion.objects.defer("evaluation").get(pk=version.pk)
    with CaptureQueriesContext(connection) as first:
        assert held_out_scores(fresh).tolist() == [0.1, 0.3]
    with CaptureQueriesContext(connection) as again:
        assert held_out_scores(fresh).tolist() == [0.1, 0.3]
    assert (len(first), len(again)) == (1, 0)

    DetectorVersion.objects.filter(pk=version.pk).update(
        evaluation={"holdout": [[1, 0.5]], "anomalies": []}, finished_at=OPENED + dt.timedelta(1)
    )
    retrained = DetectorVersion.objects.defer("evaluation").get(pk=version.pk)
    assert held_out_scores(retrained).tolist() == [0.5]
