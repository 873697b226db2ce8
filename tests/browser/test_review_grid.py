"""The review grid in a real browser: keyboard and mouse multi-select, bulk decisions, undo.

Flags are opened with ``record_scores`` as in ``test_review_queue``. ``RUN_GRID_BENCH=1``
also runs a measurement of decisions per minute with the keyboard on 100 flags, in the
grid and in the one-at-a-time queue (run with ``-s`` to see the figures).
"""

from __future__ import annotations

import os
import re
import time

import pytest
from django.contrib.auth import get_user_model

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.browser import test_review_queue as queue_tests
from tests.factories import member, odd_images, upload_images
from webapp.assets.models import Purpose
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review.models import Flag, FlagStatus
from webapp.review.services import record_scores
from webapp.sites.models import Site
from webapp.sites.roles import Role

# The same browser and page fixtures and login helper as the review-queue tests.
CHROMIUM = queue_tests.CHROMIUM
browser = queue_tests.browser
page = queue_tests.page
log_in = queue_tests.log_in
screenshot = queue_tests.screenshot
pytestmark = queue_tests.pytestmark

SELECTED = re.compile(r"\bselected\b")


def flagged_site(count: int) -> tuple[Site, list[Flag]]:
    """Site ``park`` with an active version and ``count`` pending flags, highest first."""
    site = Site.objects.create(slug="park", name="City park")
    people = {role: member(site, role, username=role) for role in Role.values}
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    # uploaded before the version is active, so no scoring task is queued
    assets = upload_images(site, people["uploader"], Purpose.SCORE, odd_images(count))
    scores = [0.99 - 0.004 * index for index in range(count)]
    record_scores(version=version, assets=assets, scores=scores)
    Site.objects.filter(pk=site.pk).update(active_version=version)
    return site, [Flag.objects.get(score__asset=asset) for asset in assets]


def statuses(flags: list[Flag]) -> list[str]:
    by_id = dict(Flag.objects.filter(pk__in=[f.pk for f in flags]).values_list("pk", "status"))
    return [by_id[flag.pk] for flag in flags]


def cell_ids(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(i) for i in page.locator("#flag-grid .grid-cell").evaluate_all(
        "cells => cells.map(c => c.dataset.flagId)"
    )]  # fmt: skip


def test_grid_keyboard_multi_select_confirm_and_undo(
    page, live_server, transactional_db, monkeypatch
):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    monkeypatch.setattr("webapp.review.views.GRID_PAGE_SIZE", 4)  # the next page shows sooner
    _, flags = flagged_site(6)
    ids = [flag.pk for flag in flags]
    log_in(page, live_server, "reviewer", "/sites/park/review/grid/")
    cells = page.locator("#flag-grid .grid-cell")
    expect(cells).to_have_count(4)
    assert cell_ids(page) == ids[:4]  # highest score first
    expect(page.locator("#grid-pending")).to_have_text("6")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#flag-grid img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )

    # The first arrow press brings the focus to the first photo; Shift+arrows select 3.
    page.keyboard.press("ArrowRight")
    expect(cells.nth(0)).to_be_focused()
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(cells.nth(2)).to_be_focused()
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    for index, selected in enumerate([True, True, True, False]):
        expect(cells.nth(index)).to_have_attribute("aria-selected", str(selected).lower())
    screenshot(page, "review-grid-selected")
    # the focus ring is drawn on the photo that has the focus
    assert cells.nth(2).evaluate("c => getComputedStyle(c).outlineStyle") == "solid"

    # c confirms the three at once; they leave the grid and the next flags fill it.
    page.keyboard.press("c")
    expect(page.locator("#grid-status")).to_have_text(
        re.compile(r"3 flags confirmed as anomalies\. Press u to undo\.")
    )
    expect(cells).to_have_count(3)
    assert cell_ids(page) == ids[3:6]
    expect(cells.nth(0)).to_be_focused()
    expect(page.locator("#selection-count")).to_have_text("0 selected")
    expect(page.locator("#grid-pending")).to_have_text("3")
    assert statuses(flags) == [FlagStatus.CONFIRMED] * 3 + [FlagStatus.PENDING] * 3
    screenshot(page, "review-grid-after-confirm")

    # u brings them back, selected, in their place.
    page.keyboard.press("u")
    expect(page.locator("#grid-status")).to_have_text(
        re.compile(r"Undone: 3 flags are pending again and selected\.")
    )
    expect(cells).to_have_count(4)
    assert cell_ids(page) == ids[:4]
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    expect(cells.nth(0)).to_be_focused()
    assert statuses(flags) == [FlagStatus.PENDING] * 6

    # Escape selects none; Space and arrows pick two apart; r rejects just those.
    page.keyboard.press("Escape")
    expect(page.locator("#selection-count")).to_have_text("0 selected")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    expect(page.locator("#selection-count")).to_have_text("2 selected")
    page.keyboard.press("r")
    expect(page.locator("#grid-status")).to_have_text(re.compile(r"2 flags rejected as normal"))
    assert cell_ids(page) == [ids[0], ids[2], ids[4], ids[5]]
    assert statuses(flags)[1] == statuses(flags)[3] == FlagStatus.REJECTED

    # Enter opens the focused photo in the single-flag view, selected there.
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.dataset.flagId")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/sites/park/review/\?flag={focused}$"))
    expect(page.locator(f'#flag-list .flag-item[data-flag-id="{focused}"]')).to_have_class(SELECTED)
    expect(page.locator(f'.flag-item[data-flag-id="{focused}"] .flag-select')).to_be_focused()


def test_grid_with_the_mouse_and_a_decision_made_elsewhere(page, live_server, transactional_db):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _, flags = flagged_site(5)
    log_in(page, live_server, "reviewer", "/sites/park/review/grid/")
    cells = page.locator("#flag-grid .grid-cell")
    expect(cells).to_have_count(5)
    cells.nth(0).click()
    cells.nth(3).click(modifiers=["Shift"])  # a range: 0-3
    expect(page.locator("#selection-count")).to_have_text("4 selected")
    cells.nth(1).click(modifiers=["Control"])  # toggles one out
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    expect(cells.nth(1)).to_have_attribute("aria-selected", "false")

    # someone else rejects one of the selected meanwhile: the rest are decided, it is named
    Flag.objects.filter(pk=flags[2].pk).update(
        status=FlagStatus.REJECTED, reviewer=get_user_model().objects.get(username="admin")
    )
    page.get_by_role("button", name=re.compile("Confirm anomaly")).click()
    expect(page.locator("#grid-status")).to_have_text(
        re.compile(r"2 flags confirmed as anomalies\. Press u to undo\. "
                   r"Left alone: 1 already reviewed by someone\.")
    )  # fmt: skip
    expect(page.locator("#grid-status")).to_have_class(re.compile("status-error"))
    expect(cells).to_have_count(2)
    assert statuses(flags) == [
        FlagStatus.CONFIRMED,
        FlagStatus.PENDING,
        FlagStatus.REJECTED,
        FlagStatus.CONFIRMED,
        FlagStatus.PENDING,
    ]
    # a selects all on the page, the button rejects them: nothing left to review
    page.keyboard.press("a")
    page.get_by_role("button", name=re.compile("Reject: it is normal")).click()
    expect(page.locator("#grid-empty")).to_be_visible()
    assert Flag.objects.filter(status=FlagStatus.PENDING).count() == 0


# --- measurement: decisions per minute with the keyboard -------------------------------

BENCH_FLAGS = 100
ANOMALY_EVERY = 10  # one flag in ten is a real anomaly; the rest are normal


@pytest.mark.skipif(not os.environ.get("RUN_GRID_BENCH"), reason="set RUN_GRID_BENCH=1")
def test_decisions_per_minute_grid_vs_queue(page, live_server, transactional_db, record_property):  # type: ignore[no-untyped-def]
    """100 flags, one in ten an anomaly, decided with the keyboard only: first one at a
    time in the queue (c or r per flag), then, from the same state, in the grid (move to
    the anomalies, Space, c; then a, r for the page). It measures what the page and the
    server add to a reviewer's time per decision (no human judgement in it), and the keys
    pressed; it asserts only that every decision was right."""
    from playwright.sync_api import expect

    _, flags = flagged_site(BENCH_FLAGS)
    anomalies = {flag.pk for index, flag in enumerate(flags) if index % ANOMALY_EVERY == 0}
    expected = [
        FlagStatus.CONFIRMED if flag.pk in anomalies else FlagStatus.REJECTED for flag in flags
    ]
    results = {}

    # One at a time: the queue selects the next pending flag after each decision.
    log_in(page, live_server, "reviewer", "/sites/park/review/")
    pending = page.locator("#pending-count")
    expect(pending).to_have_text(str(BENCH_FLAGS))
    keys = 0
    started = time.perf_counter()
    for left in range(BENCH_FLAGS, 0, -1):
        current = int(page.locator("#flag-list .flag-item.selected").get_attribute("data-flag-id"))
        page.keyboard.press("c" if current in anomalies else "r")
        keys += 1
        expect(pending).to_have_text(str(left - 1))
    results["queue"] = (time.perf_counter() - started, keys)
    assert statuses(flags) == expected

    Flag.objects.filter(pk__in=[f.pk for f in flags]).update(
        status=FlagStatus.PENDING, reviewer=None, reviewed_at=None
    )

    # The grid: pick out the anomalies on the page, confirm them; reject the rest at once.
    page.goto(f"{live_server.url}/sites/park/review/grid/")
    cells = page.locator("#flag-grid .grid-cell")
    expect(cells).to_have_count(40)
    screenshot(page, "review-grid-page")
    keys = 0
    started = time.perf_counter()
    page.keyboard.press("ArrowRight")  # the focus into the grid
    keys += 1
    while True:
        shown = cell_ids(page)
        if not shown:
            break
        wanted = [index for index, flag_id in enumerate(shown) if flag_id in anomalies]
        columns = page.evaluate(
            "() => { const c = [...document.querySelectorAll('#flag-grid .grid-cell')];"
            " return c.filter(x => x.offsetTop === c[0].offsetTop).length; }"
        )
        at = shown.index(int(page.evaluate("document.activeElement.dataset.flagId")))
        if wanted:
            for index in wanted:
                rows, cols = index // columns - at // columns, index % columns - at % columns
                for key, count in (("ArrowDown", rows), ("ArrowUp", -rows)):
                    for _ in range(max(0, count)):
                        page.keyboard.press(key)
                for key, count in (("ArrowRight", cols), ("ArrowLeft", -cols)):
                    for _ in range(max(0, count)):
                        page.keyboard.press(key)
                keys += abs(rows) + abs(cols)
                page.keyboard.press("Space")
                keys += 1
                at = index
            page.keyboard.press("c")
            keys += 1
        else:
            page.keyboard.press("a")
            page.keyboard.press("r")
            keys += 2
        # the decision is sent and the page fetched again before the next look
        page.wait_for_selector("#grid-review:not([aria-busy])", state="attached")
    expect(page.locator("#grid-empty")).to_be_visible()
    results["grid"] = (time.perf_counter() - started, keys)
    assert statuses(flags) == expected

    for name, (seconds, pressed) in results.items():
        per_minute = BENCH_FLAGS / seconds * 60
        record_property(f"{name}_decisions_per_minute", round(per_minute))
        record_property(f"{name}_keys_per_decision", round(pressed / BENCH_FLAGS, 2))
        print(
            f"\n{name}: {BENCH_FLAGS} decisions in {seconds:.1f} s = {per_minute:.0f} per minute"
            f" (machine time only), {pressed} keys ({pressed / BENCH_FLAGS:.2f} per decision)"
        )
