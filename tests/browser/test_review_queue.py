"""The review queue and the upload page in a real browser (Debian's chromium + Playwright).

Data is created directly through models and services (no training): a succeeded version
row and scores recorded with ``record_scores``, which opens the pending flags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.factories import member, normal_images, odd_images, upload_images
from tests.images import green_texture, jpeg_bytes
from webapp.assets.models import Asset, Purpose, Upload
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review.models import Flag, FlagStatus
from webapp.review.services import record_scores
from webapp.sites.models import Site
from webapp.sites.roles import Role

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
TIMEOUT_MS = 15_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def park(transactional_db):  # type: ignore[no-untyped-def]
    """A site with an active succeeded version and three pending flags (0.9, 0.8, 0.7)."""
    site = Site.objects.create(slug="park", name="City park")
    people = {role: member(site, role, username=role) for role in Role.values}
    version = DetectorVersion.objects.create(
        site=site,
        number=1,
        kind="histogram_iforest",
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        threshold=0.5,
        metrics={"auroc": 0.9},
    )
    # Uploaded before the version is active, so no scoring task is queued.
    assets = upload_images(site, people["uploader"], Purpose.SCORE, odd_images(3))
    record_scores(version=version, assets=assets, scores=[0.9, 0.8, 0.7])
    Site.objects.filter(pk=site.pk).update(active_version=version)
    flags = [Flag.objects.get(score__asset=asset) for asset in assets]
    return {"site": site, "users": people, "version": version, "flags": flags}


def log_in(page, live_server, username: str, next_path: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the login page by typing, as a person would."""
    page.goto(f"{live_server.url}/login/?next={next_path}")
    page.locator("#id_username").press_sequentially(username)
    page.locator("#id_password").press_sequentially(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}{next_path}")


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save a screenshot when ``SCREENSHOT_DIR`` is set (to look at the pages by eye)."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def status_of(flag: Flag) -> str:
    return Flag.objects.get(pk=flag.pk).status


def wait_for_status_text(page, pattern: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    expect(page.locator("#review-status")).to_have_text(re.compile(pattern), timeout=TIMEOUT_MS)


def test_review_queue_with_the_keyboard(page, live_server, park):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    first, second, third = park["flags"]
    log_in(page, live_server, "reviewer", "/sites/park/review/")
    items = page.locator("#flag-list .flag-item")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#viewer-filename")).to_have_text("odd-000.png")
    expect(page.locator("#viewer-score")).to_have_text("0.9000")
    expect(page.locator("#viewer-threshold")).to_have_text("0.5000")
    # The image comes from the access-checked API and really loads.
    page.wait_for_function(
        "() => { const i = document.getElementById('viewer-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )

    # n writes a note, Escape leaves the field, c confirms the first flag (highest score).
    page.keyboard.press("n")
    expect(page.locator("#review-note")).to_be_focused()
    page.keyboard.type("rust on the bench")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    wait_for_status_text(page, r"odd-000\.png confirmed as an anomaly")
    expect(items.nth(0).locator('[data-field="status"]')).to_have_text("Confirmed anomaly")
    expect(items.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#pending-count")).to_have_text("2")
    assert status_of(first) == FlagStatus.CONFIRMED
    assert Flag.objects.get(pk=first.pk).note == "rust on the bench"
    assert Flag.objects.get(pk=first.pk).reviewer.username == "reviewer"

    # r rejects the second (it is normal after all).
    page.keyboard.press("r")
    wait_for_status_text(page, r"odd-001\.png rejected as normal")
    expect(items.nth(1).locator('[data-field="status"]')).to_have_text("Rejected (normal)")
    expect(items.nth(2)).to_have_class(re.compile(r"\bselected\b"))
    assert status_of(second) == FlagStatus.REJECTED
    screenshot(page, "review-queue")

    # u undoes the last decision: the second flag is pending and selected again.
    page.keyboard.press("u")
    wait_for_status_text(page, r"Undone: odd-001\.png is pending again")
    expect(items.nth(1).locator('[data-field="status"]')).to_have_text("Pending")
    expect(items.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#pending-count")).to_have_text("2")
    assert [status_of(f) for f in (first, second, third)] == [
        FlagStatus.CONFIRMED,
        FlagStatus.PENDING,
        FlagStatus.PENDING,
    ]

    # Someone else reviews the third flag meanwhile: the page says so instead of failing.
    Flag.objects.filter(pk=third.pk).update(
        status=FlagStatus.REJECTED, reviewer=park["users"]["admin"]
    )
    page.keyboard.press("j")
    expect(items.nth(2)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("c")
    wait_for_status_text(page, r"already reviewed \(rejected by admin\)")
    expect(page.locator("#review-status")).to_have_class(re.compile(r"status-error"))
    expect(items.nth(2).locator('[data-field="status"]')).to_have_text("Rejected (normal)")
    assert status_of(third) == FlagStatus.REJECTED

    # k and the buttons work too.
    page.keyboard.press("k")
    expect(items.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.get_by_role("button", name=re.compile("Reject: it is normal")).click()
    wait_for_status_text(page, r"odd-001\.png rejected as normal")
    assert status_of(second) == FlagStatus.REJECTED

    # After a reload the decided flags are gone from the pending queue.
    page.reload()
    expect(items).to_have_count(0)
    expect(page.locator("#queue-empty")).to_be_visible()
    page.select_option("#status-filter", "confirmed")
    page.wait_for_url(re.compile(r"status=confirmed"))
    expect(items).to_have_count(1)
    expect(page.locator("#viewer-filename")).to_have_text("odd-000.png")


def test_viewer_sees_the_queue_read_only(page, live_server, park):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    log_in(page, live_server, "viewer", "/sites/park/review/")
    expect(page.locator("#flag-list .flag-item")).to_have_count(3)
    expect(page.locator("#read-only-notice")).to_be_visible()
    expect(page.locator("#confirm-button")).to_have_count(0)
    page.keyboard.press("c")
    page.keyboard.press("j")
    expect(page.locator("#flag-list .flag-item").nth(1)).to_have_class(re.compile(r"\bselected\b"))
    assert not Flag.objects.exclude(status=FlagStatus.PENDING).exists()


def test_upload_through_the_page(page, live_server, park):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    log_in(page, live_server, "uploader", "/sites/park/upload/")
    files = [
        {"name": name, "mimeType": "image/png", "buffer": data} for name, data in normal_images(2)
    ]
    files.append(
        {
            "name": "broken.jpg",
            "mimeType": "image/jpeg",
            "buffer": jpeg_bytes(green_texture(5))[:200],
        }
    )
    page.set_input_files("#id_files", files)
    page.get_by_label("Normal photos", exact=False).check()
    page.get_by_role("button", name="Add photos", exact=True).click()
    expect(page.locator("#stored-count")).to_have_text("2")
    expect(page.locator("#rejected-table")).to_contain_text("broken.jpg")
    screenshot(page, "upload-result")
    upload = Upload.objects.get(purpose=Purpose.TRAIN)
    assert sorted(Asset.objects.filter(upload=upload).values_list("filename", flat=True)) == [
        "green-000.png",
        "green-001.png",
    ]
    assert [r["filename"] for r in upload.rejected] == ["broken.jpg"]


def test_version_report_and_activation(page, live_server, transactional_db):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site = Site.objects.create(slug="line", name="Production line")
    member(site, Role.ADMIN, username="admin")
    common = {"kind": "histogram_iforest", "status": JobStatus.SUCCEEDED, "progress": 1.0}
    first = DetectorVersion.objects.create(site=site, number=1, threshold=0.4, **common)
    second = DetectorVersion.objects.create(
        site=site,
        number=2,
        threshold=0.61,
        params={"bins": [8, 8, 8], "estimator": "isolation_forest"},
        metrics={
            "auroc": 0.9321,
            "n_fit": 40,
            "fpr": {"holdout": 0.0125},
            # what 40 cross-fitted normals promise: not the 1 % asked for
            "calibration": "crossfit",
            "n_calibration": 40,
            "threshold_method": "fpr",
            "target_fpr": 0.01,
            "guaranteed_fpr": 1 / 41,
            "target_fpr_kept": False,
            "more_normals_needed": 59,
        },
        manifest={"fit": [], "holdout": [], "anomalies": []},
        evaluation={
            "holdout": [[1, 0.31], [2, 0.45], [3, 0.52], [4, 0.58]],
            "anomalies": [[5, 0.55], [6, 0.83]],
        },
        **common,
    )
    Site.objects.filter(pk=site.pk).update(active_version=first)
    log_in(page, live_server, "admin", f"/sites/line/models/{second.number}/")
    plots = page.locator("img.plot")
    expect(plots).to_have_count(3)  # score histogram, ROC, precision-recall
    for index in range(3):
        plots.nth(index).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=plots.nth(index).element_handle()
        )
    expect(page.locator("#metrics-table")).to_contain_text("auroc")
    expect(page.locator("#metrics-table")).to_contain_text("0.9321")
    expect(page.locator("#metrics-table")).to_contain_text("fpr.holdout")
    expect(page.locator("#params-table")).to_contain_text("isolation_forest")
    promise = page.locator("#version-calibration")
    expect(promise).to_be_visible()
    expect(promise).to_have_class("callout callout-warning")
    expect(promise).to_contain_text("at most 2.4 per 100 normal photos")
    expect(promise).to_contain_text("Add 59 more normal photos and train again.")
    screenshot(page, "version-detail")
    page.get_by_role("button", name="Use model 2").click()
    page.wait_for_url(f"{live_server.url}/sites/line/")
    expect(page.locator(".messages")).to_contain_text("Model 2 is now in use")
    assert Site.objects.get(pk=site.pk).active_version_id == second.pk
    screenshot(page, "site-detail")


def test_heatmap_overlay_toggles_with_h(page, live_server, transactional_db):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site = Site.objects.create(slug="line", name="Production line")
    people = {role: member(site, role, username=role) for role in Role.values}
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="deep_knn", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    assets = upload_images(site, people["uploader"], Purpose.SCORE, odd_images(1))
    heat = np.zeros((assets[0].height, assets[0].width), np.float32)
    heat[8:24, 8:24] = 1.0
    record_scores(version=version, assets=assets, scores=[0.9], heatmaps=[heat])

    log_in(page, live_server, "reviewer", "/sites/line/review/")
    overlay = page.locator("#viewer-heatmap")
    expect(page.locator("#heatmap-legend")).to_be_visible()
    expect(overlay).to_be_hidden()  # off by default: it covers what the reviewer judges
    page.keyboard.press("h")
    expect(overlay).to_be_visible()
    page.locator("#heatmap-opacity").fill("30")
    assert overlay.evaluate("img => img.style.opacity") == "0.3"
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle()
    )
    box, base = overlay.bounding_box(), page.locator("#viewer-image").bounding_box()
    assert abs(box["width"] - base["width"]) < 2 and abs(box["height"] - base["height"]) < 2
    screenshot(page, "review-heatmap")
    page.keyboard.press("h")
    expect(overlay).to_be_hidden()
    page.keyboard.press("h")
    expect(overlay).to_be_visible()
    page.reload()  # the reviewer's choice is remembered
    expect(overlay).to_be_visible()
    assert overlay.evaluate("img => img.style.opacity") == "0.3"


def test_live_queue_fills_while_scoring_runs(page, live_server, transactional_db, monkeypatch):  # type: ignore[no-untyped-def]
    """Queue open with nothing pending while a scoring job runs; flags recorded meanwhile
    appear in score order, the selected one and the focus stay; it stops when done."""
    from playwright.sync_api import expect

    from webapp.detectors.models import ScoringChunk, ScoringJob

    monkeypatch.setattr("webapp.review.views.POLL_MS", 400)
    site = Site.objects.create(slug="park", name="City park")
    people = {role: member(site, role, username=role) for role in Role.values}
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    assets = upload_images(site, people["uploader"], Purpose.SCORE, odd_images(4))
    Site.objects.filter(pk=site.pk).update(active_version=version)
    job = ScoringJob.objects.create(site=site, version=version, total=120, status="running")
    first, second = (
        ScoringChunk.objects.create(job=job, index=index, asset_ids=list(range(size)))
        for index, size in enumerate([64, 56])
    )

    log_in(page, live_server, "reviewer", "/sites/park/review/")
    progress = page.locator("#scoring-progress-text")
    expect(progress).to_have_text("Checking new photos: 0 of 120")
    expect(page.locator("#queue-empty")).to_have_text(
        re.compile(r"^Nothing to review yet: new photos are still being checked\.")
    )
    items = page.locator("#flag-list .flag-item")
    expect(items).to_have_count(0)

    # The first chunk is scored: two flags appear, the first is shown; j selects the second.
    record_scores(version=version, assets=assets[:2], scores=[0.8, 0.6])
    ScoringChunk.objects.filter(pk=first.pk).update(status=JobStatus.SUCCEEDED)
    expect(progress).to_have_text("Checking new photos: 64 of 120")
    expect(items).to_have_count(2)
    expect(page.locator("#queue-empty")).to_be_hidden()
    expect(page.locator("#pending-count")).to_have_text("2")
    expect(page.locator("#queue-news")).to_have_text("2 new flags in the queue.")
    expect(page.locator("#viewer-filename")).to_have_text("odd-000.png")
    page.keyboard.press("j")
    selected = page.locator(".flag-item[data-flag-id] >> nth=1")
    expect(selected).to_have_class(re.compile(r"\bselected\b"))
    expect(selected.locator(".flag-select")).to_be_focused()
    screenshot(page, "review-queue-live")

    # More flags, one above and one between: they take their place by score; the
    # selected flag and the focus do not move.
    record_scores(version=version, assets=assets[2:], scores=[0.9, 0.7])
    ScoringChunk.objects.filter(pk=second.pk).update(status=JobStatus.SUCCEEDED)
    ScoringJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    expect(page.locator("#queue-news")).to_have_text("All new photos are checked.")
    expect(page.locator("#scoring-progress")).to_be_hidden()
    names = items.locator(".flag-name")
    expect(names).to_have_text(["odd-002.png", "odd-000.png", "odd-003.png", "odd-001.png"])
    odd_001 = page.locator('.flag-item[data-filename="odd-001.png"]')
    expect(odd_001).to_have_class(re.compile(r"\bselected\b"))
    expect(odd_001.locator(".flag-select")).to_be_focused()
    expect(page.locator("#viewer-filename")).to_have_text("odd-001.png")
    expect(page.locator("#pending-count")).to_have_text("4")
    page.keyboard.press("c")
    wait_for_status_text(page, r"odd-001\.png confirmed as an anomaly")
    assert Flag.objects.get(score__asset=assets[1]).status == FlagStatus.CONFIRMED
    # polling has stopped: no request to scoring-status any more
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.wait_for_timeout(1200)
    assert not [url for url in asked if "scoring-status" in url]
