"""Box labelling and boxes in the review queue, in a real browser (chromium + Playwright).

Screenshots go to ``SCREENSHOT_DIR`` when it is set (e.g. ``var/screenshots``).
"""

from __future__ import annotations

import os
import re

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.browser import test_review_queue as review_queue_tests
from tests.browser.test_review_queue import TIMEOUT_MS, log_in, screenshot
from tests.factories import member, upload_images
from tests.images import green_texture, png_bytes
from webapp.assets.models import Purpose
from webapp.objects import services
from webapp.objects.models import Box
from webapp.sites.models import Site
from webapp.sites.roles import Role

SIZE = 128

# The launch options, skip rules and page fixture of the review queue's browser tests.
pytestmark = review_queue_tests.pytestmark
browser = review_queue_tests.browser
page = review_queue_tests.page


@pytest.fixture
def yard(transactional_db):  # type: ignore[no-untyped-def]
    """A site with two classes and three unlabelled 128 px train images."""
    site = Site.objects.create(slug="yard", name="Yard")
    people = {role: member(site, role, username=role) for role in Role.values}
    services.create_class(site=site, name="square", colour="#ff0000")
    services.create_class(site=site, name="circle", colour="#00aaff")
    images = [(f"plain-{i}.png", png_bytes(green_texture(i, SIZE))) for i in range(3)]
    assets = upload_images(site, people["uploader"], Purpose.TRAIN, images)
    return {"site": site, "users": people, "assets": assets}


def stored(asset) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    return [
        (label, round(x), round(y), round(w), round(h))
        for label, x, y, w, h in Box.objects.filter(asset=asset)
        .order_by("id")
        .values_list("object_class__name", "x", "y", "w", "h")
    ]


class Stage:
    """Image pixels -> screen points on the labelling page's SVG (whatever the zoom)."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page = page

    def at(self, x: float, y: float) -> tuple[float, float]:
        box = self.page.locator("#label-svg").bounding_box()
        scale = box["width"] / SIZE
        return box["x"] + x * scale, box["y"] + y * scale

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        mouse = self.page.mouse
        mouse.move(*self.at(*start))
        mouse.down()
        sx, sy = start
        ex, ey = end
        for step in range(1, 6):  # a few moves, as a hand would
            mouse.move(*self.at(sx + (ex - sx) * step / 5, sy + (ey - sy) * step / 5))
        mouse.up()


def saved(page, count: int) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    # the page marks itself dirty at once on every change, saved when the server agreed
    expect(page.locator("#labeller")).to_have_attribute("data-state", "saved")
    noun = "box" if count == 1 else "boxes"
    expect(page.locator("#label-status")).to_have_text(f"Saved: {count} {noun}.")


def test_draw_move_resize_and_delete_boxes(page, live_server, yard):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    asset, following, _ = yard["assets"]
    log_in(page, live_server, "uploader", f"/assets/{asset.pk}/label/")
    page.wait_for_function(
        "() => { const i = document.getElementById('label-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    expect(page.locator("#label-keys")).to_contain_text("Ctrl")
    stage = Stage(page)

    # Draw with the mouse: the first class is chosen.
    stage.drag((10, 10), (50, 40))
    saved(page, 1)
    assert stored(asset) == [("square", 10, 10, 40, 30)]
    expect(page.locator("#box-list .box-row")).to_have_count(1)

    # 2 gives the selected box the second class.
    page.keyboard.press("2")
    expect(page.locator(".class-choice.active")).to_contain_text("circle")
    saved(page, 1)
    assert stored(asset) == [("circle", 10, 10, 40, 30)]

    # Move it by dragging its middle, resize it by its bottom-right handle.
    stage.drag((30, 25), (50, 55))
    saved(page, 1)
    assert stored(asset) == [("circle", 30, 40, 40, 30)]
    stage.drag((70, 70), (90, 100))
    saved(page, 1)
    assert stored(asset) == [("circle", 30, 40, 60, 60)]

    # Shift+arrow moves it 10 px with the keyboard; the image border stops it.
    page.keyboard.press("Shift+ArrowRight")
    saved(page, 1)
    assert stored(asset) == [("circle", 40, 40, 60, 60)]
    for _ in range(5):
        page.keyboard.press("Shift+ArrowDown")
    saved(page, 1)
    assert stored(asset) == [("circle", 40, 68, 60, 60)]

    # A second box (class 1 again); Delete removes it, Ctrl+Z brings it back, Backspace
    # removes it for good.
    page.keyboard.press("1")  # with the circle selected this relabels it: undo that
    page.keyboard.press("Control+z")
    saved(page, 1)
    page.keyboard.press("Escape")
    page.keyboard.press("1")
    stage.drag((5, 5), (25, 20))
    saved(page, 2)
    assert stored(asset) == [("circle", 40, 68, 60, 60), ("square", 5, 5, 20, 15)]
    page.keyboard.press("Delete")
    saved(page, 1)
    page.keyboard.press("Control+z")
    saved(page, 2)
    page.keyboard.press("Backspace")
    saved(page, 1)
    assert stored(asset) == [("circle", 40, 68, 60, 60)]

    # Zoom in for small objects: the box stays on the same pixels.
    before = page.locator("#label-svg").bounding_box()["width"]
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert page.locator("#label-svg").bounding_box()["width"] > before * 1.5
    expect(page.locator("#zoom-level")).not_to_have_text("100 %")
    screenshot(page, "labelling")

    # After a reload the box is there, from the server.
    page.reload()
    expect(page.locator("#box-list .box-row")).to_have_count(1)
    expect(page.locator("#box-list .box-row")).to_contain_text("circle · 40, 68 · 60\u00d760")
    rect = page.locator("#label-svg rect.box")
    position = [round(float(rect.get_attribute(a))) for a in ("x", "y", "width", "height")]
    assert position == [40, 68, 60, 60]

    # n goes to the next image without boxes.
    page.keyboard.press("n")
    page.wait_for_url(re.compile(rf"/assets/{following.pk}/label/$"))
    expect(page.locator("#box-empty")).to_be_visible()


def test_a_refused_save_keeps_the_boxes_and_says_why(page, live_server, yard):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    asset = yard["assets"][0]
    log_in(page, live_server, "reviewer", f"/assets/{asset.pk}/label/")
    stage = Stage(page)
    stage.drag((10, 10), (30, 30))
    saved(page, 1)
    # An admin deletes the class meanwhile... by renaming it: the page still says "square".
    services.update_class(object_class=yard["site"].object_classes.get(name="square"), name="box")
    stage.drag((60, 60), (90, 90))
    expect(page.locator("#label-status")).to_contain_text("Not saved", timeout=TIMEOUT_MS)
    expect(page.locator("#label-status")).to_contain_text("unknown class 'square'")
    expect(page.locator("#box-list .box-row.invalid")).to_have_count(2)
    expect(page.locator("#box-list .box-row")).to_have_count(2)  # nothing lost
    assert stored(asset) == [("box", 10, 10, 20, 20)]


def test_viewers_cannot_change_boxes(page, live_server, yard):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    asset = yard["assets"][0]
    Box.objects.create(
        asset=asset, object_class=yard["site"].object_classes.first(), x=5, y=5, w=20, h=20
    )
    log_in(page, live_server, "viewer", f"/assets/{asset.pk}/label/")
    expect(page.locator("#read-only-notice")).to_be_visible()
    Stage(page).drag((50, 50), (90, 90))
    page.keyboard.press("]")
    page.keyboard.press("Delete")
    expect(page.locator("#box-list .box-row")).to_have_count(1)
    assert stored(asset) == [("square", 5, 5, 20, 20)]


def test_review_queue_draws_a_flags_boxes_and_names_an_object(page, live_server, yard):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from detection.objects import DetectedBox
    from tests.images import grey_blue_scene
    from webapp.detectors.models import DetectorVersion, JobStatus
    from webapp.review.models import Flag, FlagStatus
    from webapp.review.services import record_scores

    site = yard["site"]
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="ssd_openset", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    scored = upload_images(
        site,
        yard["users"]["uploader"],
        Purpose.SCORE,
        [("shapes.png", png_bytes(grey_blue_scene(1, SIZE)))],
    )
    detected = [
        [
            DetectedBox("square", 8, 8, 30, 30, confidence=0.9, openness=0.2),
            DetectedBox("circle", 60, 50, 40, 36, confidence=0.35, openness=0.93),
        ]
    ]
    details = services.describe_detections(site=site, threshold=0.5, boxes=detected)
    record_scores(version=version, assets=scored, scores=[0.93], details=details)
    flag = Flag.objects.get()

    log_in(page, live_server, "reviewer", "/sites/yard/review/")
    overlay = page.locator("#viewer-boxes")
    expect(overlay).to_be_visible()
    expect(overlay.locator("rect")).to_have_count(2)
    expect(overlay).to_contain_text("1 square 0.20")
    expect(overlay).to_contain_text("2 unknown 0.93")
    rect = overlay.locator("rect.unknown")
    position = [rect.get_attribute(a) for a in ("x", "y", "width", "height")]
    assert position == ["60", "50", "40", "36"]
    boxes = page.locator("#viewer-box-list li")
    expect(boxes.nth(1)).to_contain_text("unlike every known class")
    expect(page.locator("#viewer-reasons")).to_have_text("")
    page.wait_for_function(
        "() => { const i = document.getElementById('viewer-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    screenshot(page, "review-queue-boxes")

    # b hides and shows the boxes.
    page.keyboard.press("b")
    expect(overlay).to_be_hidden()
    page.keyboard.press("b")
    expect(overlay).to_be_visible()

    # l goes to the name field of the unknown object; a reviewer cannot invent a class...
    page.keyboard.press("l")
    name_field = boxes.nth(1).locator("input")
    expect(name_field).to_be_focused()
    name_field.press_sequentially("triangle")
    name_field.press("Enter")
    expect(page.locator("#review-status")).to_contain_text("only an admin can add a class")
    assert not Box.objects.filter(asset=scored[0]).exists()
    # ...but names it with one of the site's classes: a labelled box for the next version.
    name_field.fill("circle")
    name_field.press("Enter")
    expect(page.locator("#review-status")).to_contain_text("is now a labelled circle box")
    expect(boxes.nth(1)).to_contain_text("named circle")
    assert stored(scored[0]) == [("circle", 60, 50, 40, 36)]

    # The flag is then rejected as usual with r (the image is normal: it joins training).
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("r")
    expect(page.locator("#review-status")).to_contain_text("rejected as normal")
    assert Flag.objects.get(pk=flag.pk).status == FlagStatus.REJECTED


def test_admin_adds_a_class_and_goes_labelling(page, live_server, yard):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    log_in(page, live_server, "admin", "/sites/yard/classes/")
    expect(page.locator("#classes-table tbody tr")).to_have_count(2)
    page.locator("#id_name").press_sequentially("bottle")
    page.locator("#id_expected").fill("3")
    page.get_by_role("button", name="Add class").click()
    expect(page.locator(".messages")).to_contain_text("Class “bottle” added.")
    expect(page.locator("#classes-table tbody tr")).to_have_count(3)
    bottle = yard["site"].object_classes.get(name="bottle")
    assert (bottle.expected, bottle.colour) == (3, "#2ca02c")  # the palette's next colour
    screenshot(page, "object-classes")
    page.locator("#label-first").click()
    page.wait_for_url(re.compile(rf"/assets/{yard['assets'][0].pk}/label/$"))
    expect(page.locator("#class-picker .class-choice")).to_have_count(3)
    expect(page.locator("#class-picker .class-choice").nth(2)).to_contain_text("3bottle")
