"""The video page and segment review in a real browser (Debian's chromium + Playwright).

The video is uploaded and extracted through the real services (its WebM preview is what
Chromium plays); scores and segment flags are recorded with the review services, without
training, as in ``test_review_queue``.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.browser import test_review_queue as queue_tests
from tests.factories import member
from tests.vidfiles import clip_bytes
from webapp.assets import video_services
from webapp.assets.models import Asset
from webapp.assets.services import IncomingFile, create_upload
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review.models import Flag, FlagStatus
from webapp.review.services import flag_segments, record_scores
from webapp.sites.models import Site
from webapp.sites.roles import Role

# The same browser and page fixtures and login helper as the review-queue tests.
CHROMIUM = queue_tests.CHROMIUM
browser = queue_tests.browser
page = queue_tests.page
log_in = queue_tests.log_in
DASH = "\u2013"  # the pages write frame ranges with an en dash

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or REPO / "var" / "screenshots")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y chromium)",
    ),
]

# 60 frames at 10 fps (6 s); the site keeps 5 per second: 30 frames, 0, 2, ... 58.
EVENTS = ((20, 28), (40, 46))


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def walkway(transactional_db):  # type: ignore[no-untyped-def]
    site = Site.objects.create(slug="walkway", name="Walkway")
    people = {role: member(site, role, username=role) for role in Role.values}
    data = clip_bytes(60, size=(160, 120), event=(20, 48))
    video = create_upload(
        site=site,
        user=people["uploader"],
        purpose="score",
        files=[IncomingFile(name="cart.mp4", handle=io.BytesIO(data))],
    ).assets[0]
    video_services.extract_video(video_id=video.pk)
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    frames = list(Asset.objects.filter(source_video=video).order_by("frame_index"))
    scores = [
        0.9 if any(a <= f.frame_index <= b for a, b in EVENTS) else 0.1 + 0.01 * (i % 5)
        for i, f in enumerate(frames)
    ]
    scores[frames.index(next(f for f in frames if f.frame_index == 42))] = 0.97
    record_scores(version=version, assets=frames, scores=scores)
    flags = flag_segments(version=version, video=video)
    assert [(f.start_frame, f.end_frame) for f in flags] == list(EVENTS)
    Site.objects.filter(pk=site.pk).update(active_version=version)
    return {"site": site, "video": video, "flags": flags}


def test_video_page_plays_seeks_and_draws_the_curve(page, live_server, walkway):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    video = walkway["video"]
    log_in(page, live_server, "viewer", f"/assets/{video.pk}/")
    curve = page.locator("#score-curve")
    expect(curve).to_have_attribute("data-drawn", "true")
    assert int(curve.get_attribute("data-points")) == 30
    expect(page.locator("#score-curve path.curve-line")).to_have_count(1)
    expect(page.locator("#score-curve line.curve-threshold")).to_have_count(1)
    expect(page.locator("#score-curve rect.curve-segment")).to_have_count(2)
    expect(page.locator("#segment-list li")).to_have_count(2)
    expect(page.locator("#thumb-strip img")).to_have_count(12)
    expect(page.locator("#curve-status")).to_contain_text("Scores by v1, threshold 0.5000")

    # Chromium decodes the WebM preview (its metadata and first frame load)...
    page.wait_for_function(
        "() => { const v = document.getElementById('video-player');"
        " return v.readyState >= 2 && v.duration > 5; }"
    )
    # ...plays it: time advances...
    page.evaluate("document.getElementById('video-player').play()")
    page.wait_for_function("() => document.getElementById('video-player').currentTime > 0.5")
    page.evaluate("document.getElementById('video-player').pause()")
    # ...and a click on the curve, three quarters along, seeks there.
    box = curve.bounding_box()
    curve.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    page.wait_for_function(
        "() => Math.abs(document.getElementById('video-player').currentTime - 4.5) < 0.35"
    )
    playhead = float(page.locator("#score-curve line.curve-playhead").get_attribute("x1"))
    assert abs(playhead - 750) < 60
    shot(page, "video-page")


def test_segment_review_with_the_keyboard(page, live_server, walkway):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    early, late = walkway["flags"]  # late has the higher peak: first in the queue
    log_in(page, live_server, "reviewer", "/sites/walkway/review/")
    items = page.locator("#flag-list .flag-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-flag-id", str(late.pk))
    expect(page.locator("#viewer-segment")).to_be_visible()
    expect(page.locator("#viewer-segment-facts")).to_contain_text(f"Frames 40{DASH}46")
    expect(page.locator("#viewer-curve")).to_have_attribute("data-drawn", "true")
    # the segment plays in a loop inside its own stretch of the video (4.0 - 4.7 s)
    page.wait_for_function(
        "() => { const v = document.getElementById('viewer-video');"
        " return !v.paused && v.currentTime >= 3.9 && v.currentTime <= 4.8; }"
    )

    # [ goes to the earlier segment of the same video, ] back to the later one.
    page.keyboard.press("[")
    expect(items.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#viewer-segment-facts")).to_contain_text(f"Frames 20{DASH}28")
    page.keyboard.press("[")
    expect(page.locator("#review-status")).to_have_text("No earlier segment in this video.")
    page.keyboard.press("]")
    expect(items.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    shot(page, "review-segment")

    page.keyboard.press("c")
    expect(page.locator("#review-status")).to_have_text(
        re.compile(r"cart\.mp4 frames 40-46 confirmed as an anomaly")
    )
    assert Flag.objects.get(pk=late.pk).status == FlagStatus.CONFIRMED
    assert Flag.objects.get(pk=late.pk).reviewer.username == "reviewer"
    expect(items.nth(1)).to_have_class(re.compile(r"\bselected\b"))  # next pending
    assert Flag.objects.get(pk=early.pk).status == FlagStatus.PENDING

    # The grid shows the other segment as its peak frame; r rejects it from there.
    page.goto(f"{live_server.url}/sites/walkway/review/grid/")
    cell = page.locator("#flag-grid .grid-cell")
    expect(cell).to_have_count(1)
    expect(cell.locator(".grid-kind")).to_have_text(
        f"video · frame {early.score.asset.frame_index}"
    )
    expect(cell.locator(".grid-name")).to_have_text(f"cart.mp4 · 20{DASH}28")
    expect(cell.locator("img")).to_have_attribute(
        "src", f"/api/assets/{early.score.asset_id}/thumbnail/"
    )
    page.wait_for_function("() => document.querySelector('#flag-grid img').naturalWidth > 0")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("r")
    expect(page.locator("#grid-status")).to_have_text(
        re.compile(r"cart\.mp4 frames 20-28 rejected as normal")
    )
    assert Flag.objects.get(pk=early.pk).status == FlagStatus.REJECTED
