"""GET /api/sites/{slug}/dashboard/: who may see it, its shape, its visits, its query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.dashboard_data import FlagSpec, make_flags, version_of
from tests.factories import member
from webapp.dashboard.models import DashboardVisit
from webapp.review.models import FlagStatus
from webapp.sites.models import Site

pytestmark = pytest.mark.django_db
URL = "/api/sites/park/dashboard/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    """Users' passwords hash in microseconds (the default hasher takes a second each)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("viewer", 200),
        ("uploader", 200),
        ("reviewer", 200),
        ("admin", 200),
        ("outsider", 404),
    ],
)
def test_every_member_may_see_the_dashboard(api, role, status):  # type: ignore[no-untyped-def]
    assert api(role).get(URL).status_code == status


def test_anonymous_clients_are_asked_to_sign_in(site):  # type: ignore[no-untyped-def]
    response = APIClient().get(URL)
    assert response.status_code == 401 and "detail" in response.json()


def test_the_numbers_and_a_second_visit(api, site, users):  # type: ignore[no-untyped-def]
    now = timezone.now()
    version = version_of(
        site, metrics={"guaranteed_fpr": 0.02, "n_calibration": 49, "threshold_method": "fpr"}
    )
    Site.objects.filter(pk=site.pk).update(active_version=version)
    make_flags(
        site,
        version,
        [
            FlagSpec(now - timedelta(hours=5)),
            FlagSpec(
                now - timedelta(hours=4),
                FlagStatus.CONFIRMED,
                users["reviewer"],
                now - timedelta(hours=1),
            ),
        ],
    )
    body = api("viewer").get(URL).json()
    assert set(body) == {
        "site",
        "generated_at",
        "time_zone",
        "photos",
        "flags",
        "waiting",
        "reviewers",
        "model",
        "since_last_visit",
    }
    assert body["photos"]["to_check"] == 2
    assert body["flags"]["totals"] == {"pending": 1, "confirmed": 1, "rejected": 0, "superseded": 0}
    assert len(body["flags"]["days"]) == 30 and body["flags"]["days"][-1]["pending_at_end"] == 1
    assert body["flags"]["oldest_pending_s"] == pytest.approx(5 * 3600, abs=60)
    assert body["waiting"]["median_s"] == pytest.approx(3 * 3600)
    assert body["reviewers"]["reviewers"][0]["reviewer"] == "reviewer"
    assert body["reviewers"]["reviewers"][0]["total"] == 1
    active = body["model"]["active"]
    assert (active["number"], active["expected_false_alarms_per_100"]) == (1, 2.0)
    assert body["since_last_visit"]["first_visit"] is True

    # an hour later: a second visit, which reports what changed in between
    DashboardVisit.objects.filter(user=users["viewer"]).update(
        seen_at=timezone.now() - timedelta(hours=1)
    )
    make_flags(site, version, [FlagSpec(timezone.now())])
    changes = api("viewer").get(URL).json()["since_last_visit"]
    assert changes["first_visit"] is False
    assert changes["flags"] == {"opened": 1, "still_pending": 1}
    assert changes["photos"] == {"training": 0, "to_check": 1, "videos": 0}


def test_the_query_count_does_not_grow_with_the_flags(  # type: ignore[no-untyped-def]
    api, site, users, django_assert_max_num_queries
):
    now = timezone.now()
    reviewers = [users["reviewer"], *(member(site, "reviewer", f"r{i}") for i in range(4))]
    version = version_of(site)
    Site.objects.filter(pk=site.pk).update(active_version=version)
    specs = []
    for i in range(600):
        opened = now - timedelta(hours=i * 1.3)
        if i % 3:
            decided = min(now, opened + timedelta(minutes=7 * i % 3000))
            status = FlagStatus.CONFIRMED if i % 2 else FlagStatus.REJECTED
            specs.append(FlagSpec(opened, status, reviewers[i % len(reviewers)], decided))
        else:
            specs.append(FlagSpec(opened))
    make_flags(site, version, specs)
    client = api("viewer")
    client.get(URL)  # the first visit creates the visit row
    DashboardVisit.objects.update(seen_at=now - timedelta(days=2))
    # the token, the site and role (2), the visit (4 with its savepoint), then 14 numbers
    with django_assert_max_num_queries(21):
        body = client.get(URL).json()
    assert body["since_last_visit"]["first_visit"] is False
    assert sum(r["total"] for r in body["reviewers"]["reviewers"]) > 100
