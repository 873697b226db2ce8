"""The dashboard page: who sees it, its charts and plain words, the link from the site page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.dashboard_data import FlagSpec, make_flags, version_of
from webapp.dashboard.models import DashboardVisit
from webapp.review.models import FlagStatus
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site

pytestmark = pytest.mark.django_db
URL = "/sites/park/dashboard/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    """Users' passwords hash in microseconds (the default hasher takes a second each)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def page_of(user) -> str:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def test_members_only_and_linked_from_the_site_page(site, users):  # type: ignore[no-untyped-def]
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    outsider = Client()
    outsider.force_login(users["outsider"])
    assert outsider.get(URL).status_code == 404
    viewer = Client()
    viewer.force_login(users["viewer"])
    assert (
        'id="dashboard-link" href="/sites/park/dashboard/"'
        in viewer.get("/sites/park/").content.decode()
    )


def test_a_new_site_says_what_is_missing_in_plain_words(site, users):  # type: ignore[no-untyped-def]
    html = page_of(users["viewer"])
    assert 'id="first-visit"' in html
    assert "No model checks new photos yet" in html and "An admin of the site trains" in html
    assert 'id="no-decisions"' in html
    assert "none waiting" in html
    assert "version" not in re.sub(r"<[^>]+>", " ", html).lower()  # "model", never "version"


def test_the_charts_numbers_and_what_changed(site, users):  # type: ignore[no-untyped-def]
    now = timezone.now()
    version = version_of(
        site,
        kind="histogram_iforest",
        finished_at=now - timedelta(days=3),
        metrics={"guaranteed_fpr": 0.0099, "n_calibration": 100, "threshold_method": "fpr"},
    )
    Site.objects.filter(pk=site.pk).update(active_version=version)
    reviewer = users["reviewer"]
    make_flags(
        site,
        version,
        [
            FlagSpec(now - timedelta(days=2)),
            FlagSpec(
                now - timedelta(days=3), FlagStatus.REJECTED, reviewer, now - timedelta(days=2)
            ),
            FlagSpec(now - timedelta(hours=3), FlagStatus.CONFIRMED, reviewer, now),
        ],
    )
    html = page_of(users["viewer"])
    charts = re.findall(r'<svg [^>]*role="img"[^>]*aria-labelledby="([^"]+)"', html)
    # per day, waiting at the end of each day, waiting times, one per reviewer
    assert len(charts) == 4
    for labels in charts:
        for label in labels.split():
            assert re.search(rf'id="{label}">[^<]+<', html), label
    assert html.count("<summary>The numbers as a table</summary>") == 4
    assert (
        "Over the last 30 days 3 flags were opened, 1 confirmed as anomalies and 1 rejected" in html
    )
    assert 'data-field="false-alarms-per-100">1.0<' in html
    assert "mix of colours with the normal photos" in html
    assert 'data-field="oldest-pending">2 days<' in html
    assert 'data-field="median-wait">13 hours 30 minutes<' in html  # halfway: 3 h, 24 h

    # later, someone else decides and a model is made active: the next visit says so
    DashboardVisit.objects.update(seen_at=timezone.now() - timedelta(hours=2))
    audit.record(
        site=site,
        actor=users["admin"],
        action=AuditAction.ACTIVATION,
        object_type="version",
        object_id=version.pk,
        summary="activated version 1",
        details={"number": 1},
    )
    audit.record(
        site=site,
        actor=reviewer,
        action=AuditAction.REVIEW_CONFIRM,
        object_type="flag",
        object_id=1,
        summary="confirmed flag 1",
    )
    html = page_of(users["viewer"])
    changes = html[
        html.index('id="change-list"') : html.index("</ul>", html.index('id="change-list"'))
    ]
    assert "<strong>reviewer</strong> confirmed 1 flag as anomaly." in changes
    assert "was made the active model by admin" in changes
