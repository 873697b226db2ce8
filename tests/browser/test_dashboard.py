"""The site dashboard in a real browser (chromium + Playwright): charts and the keyboard.

Screenshots go to ``SCREENSHOT_DIR`` when it is set (e.g. ``var/screenshots``).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.utils import timezone

from tests.browser import test_review_queue as review_queue_tests
from tests.browser.test_review_queue import log_in, screenshot
from tests.dashboard_data import FlagSpec, make_flags, version_of
from tests.factories import member
from webapp.dashboard.models import DashboardVisit
from webapp.review.models import FlagStatus
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site
from webapp.sites.roles import Role

# The launch options, skip rules and page fixture of the review queue's browser tests.
pytestmark = review_queue_tests.pytestmark
browser = review_queue_tests.browser
page = review_queue_tests.page


@pytest.fixture
def meadow(transactional_db, settings):  # type: ignore[no-untyped-def]
    """A month of flags on a site, decided by three reviewers; the viewer was here yesterday."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    site = Site.objects.create(slug="meadow", name="Meadow plots")
    people = {role: member(site, role, username=role) for role in Role.values}
    reviewers = [people["reviewer"], member(site, "reviewer", "ana"), people["admin"]]
    now = timezone.now()
    version = version_of(
        site,
        kind="auto",
        finished_at=now - timedelta(days=12),
        metrics={
            "auto": {"chosen": "deep_knn"},
            "guaranteed_fpr": 0.0099,
            "n_calibration": 100,
            "calibration": "crossfit",
            "threshold_method": "fpr",
            "target_fpr": 0.01,
            "target_fpr_kept": True,
        },
    )
    version_of(site, 2, status="failed", error="Too few photos of what is normal.")
    Site.objects.filter(pk=site.pk).update(active_version=version)
    specs = []
    for i in range(90):
        opened = now - timedelta(hours=8 * i + 1)
        if i < 12:
            specs.append(FlagSpec(opened))
            continue
        decided = min(now, opened + timedelta(minutes=(37 * i) % 2900 + 5))
        status = FlagStatus.CONFIRMED if i % 4 == 0 else FlagStatus.REJECTED
        specs.append(FlagSpec(opened, status, reviewers[i % 3], decided))
    make_flags(site, version, specs)
    DashboardVisit.objects.create(site=site, user=people["viewer"], seen_at=now - timedelta(days=1))
    audit.record(
        site=site,
        actor=reviewers[1],
        action=AuditAction.REVIEW_REJECT,
        object_type="flag",
        object_id=1,
        summary="rejected flag 1",
    )
    return site


def test_the_dashboard_shows_labelled_charts_and_works_with_the_keyboard(page, live_server, meadow):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    log_in(page, live_server, "viewer", "/sites/meadow/dashboard/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    # every chart is an image whose accessible name is its title
    for name in (
        "Flags opened and decided per day, last 30 days",
        "Flags waiting for review at the end of each day, last 30 days",
        "How long decided flags had waited",
        "Decisions of reviewer per day",
        "Decisions of ana per day",
    ):
        expect(page.get_by_role("img", name=name)).to_be_visible()
    charts = page.locator("svg.chart[role=img]")
    expect(charts).to_have_count(6)
    assert page.locator("#chart-flags-daily rect").count() > 20
    described = page.eval_on_selector_all(
        "svg.chart",
        "els => els.map(e => document.getElementById(e.id + '-desc').textContent)",
    )
    assert all(re.search(r"\d", text) for text in described), described
    expect(page.locator("#first-visit")).to_have_count(0)
    expect(page.locator("#change-list")).to_contain_text("ana rejected 1 flag as normal.")
    expect(page.locator('[data-field="false-alarms-per-100"]')).to_have_text("1.0")
    screenshot(page, "dashboard")

    # Tab from the top of the page to the first chart's table, open it with Enter
    page.locator("body").focus()
    summary = page.locator("#chart-flags-daily-figure summary")
    for _ in range(40):
        page.keyboard.press("Tab")
        if summary.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the table of the first chart")
    outline = summary.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("", "none"), "the focused summary shows no focus ring"
    page.keyboard.press("Enter")
    table = page.locator("#chart-flags-daily-figure table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(30)
    # the table scrolls: its region takes the focus (arrow keys scroll it), then the next chart
    page.keyboard.press("Tab")
    region = page.get_by_role("region", name="Flags opened and decided per day, last 30 days")
    expect(region).to_be_focused()
    page.keyboard.press("End")
    page.wait_for_function(
        "() => document.querySelector('#chart-flags-daily-figure .table-wrap').scrollTop > 0"
    )
    page.keyboard.press("Tab")
    expect(page.locator("#chart-flags-waiting-figure summary")).to_be_focused()
    screenshot(page, "dashboard-table-open")
