"""Accessibility in a real browser: axe-core on every main page, and the keyboard alone.

axe-core is the copy bundled in the ``axe-playwright-python`` wheel (pinned in
``requirements/dev.txt``; nothing is downloaded at run time). It is evaluated in the page
through Playwright, which the Content-Security-Policy does not block, and run with the WCAG
2.0/2.1 A and AA rules (colour contrast included) plus axe's best practices for landmarks and
headings. Data is built through models and services, without training, as in
``test_review_queue``.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.browser import test_review_queue as queue_tests
from tests.factories import MembershipFactory, member, normal_images, odd_images, upload_images
from tests.images import green_texture, png_bytes
from tests.vidfiles import clip_bytes
from webapp.assets import video_services
from webapp.assets.models import Asset, Purpose
from webapp.assets.services import IncomingFile, create_upload
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.hooks import services as hook_services
from webapp.objects import services as object_services
from webapp.review.models import Flag
from webapp.review.services import flag_segments, record_scores
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site
from webapp.sites.roles import Role

# The launch options, skip rules, page fixture and login helper of the review queue's tests.
pytestmark = queue_tests.pytestmark
browser = queue_tests.browser
page = queue_tests.page
log_in = queue_tests.log_in
screenshot = queue_tests.screenshot

#: WCAG 2.0 and 2.1, levels A and AA (``color-contrast`` is a ``wcag2aa`` rule).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: Best-practice rules on the page's structure: landmarks and the order of headings.
STRUCTURE_RULES = [
    "bypass",
    "heading-order",
    "landmark-banner-is-top-level",
    "landmark-main-is-top-level",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-main",
    "landmark-one-main",
    "landmark-unique",
    "page-has-heading-one",
    "region",
]


def axe_script() -> str:
    axe = pytest.importorskip(
        "axe_playwright_python.base", reason="pip install axe-playwright-python"
    )
    return axe.AXE_SCRIPT


def axe_violations(page, script: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Each axe violation on the page as one readable line per element."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(script)
    results = page.evaluate(
        """async ([tags, rules]) => {
            const wcag = await axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            const structure = await axe.run(document, {
                runOnly: {type: "rule", values: rules}, resultTypes: ["violations"]});
            return wcag.violations.concat(structure.violations);
        }""",
        [WCAG_TAGS, STRUCTURE_RULES],
    )
    lines = []
    for violation in results:
        for node in violation["nodes"]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(
                f"{violation['id']} ({violation['impact']}): {', '.join(map(str, node['target']))}"
                f" {node['html'][:160]!r} -- {summary[:300]}"
            )
    return lines


@pytest.fixture
def park(transactional_db, settings):  # type: ignore[no-untyped-def]
    """A site with every page's content: flags (one with a heatmap), a video with segment
    flags, a model report, classes and a box, a webhook with a delivery, audit entries; and
    a second, empty site whose page shows the whole Getting started guide."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    site = Site.objects.create(slug="park", name="City park")
    people = {role: member(site, role, username=role) for role in Role.values}
    admin = people["admin"]
    empty = Site.objects.create(slug="meadow", name="Meadow")
    MembershipFactory(site=empty, user=admin, role=Role.ADMIN)
    upload_images(site, people["uploader"], Purpose.TRAIN, normal_images(3))
    # uploaded before the version is active, so no scoring task is queued
    assets = upload_images(site, people["uploader"], Purpose.SCORE, odd_images(4))
    video = create_upload(
        site=site,
        user=people["uploader"],
        purpose="score",
        files=[
            IncomingFile(
                name="cart.mp4", handle=io.BytesIO(clip_bytes(30, size=(96, 72), event=(10, 20)))
            )
        ],
    ).assets[0]
    video_services.extract_video(video_id=video.pk)
    version = DetectorVersion.objects.create(
        site=site,
        number=1,
        kind="deep_knn",
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        threshold=0.5,
        metrics={
            "auroc": 0.93,
            "n_fit": 40,
            "calibration": "crossfit",
            "n_calibration": 40,
            "threshold_method": "fpr",
            "target_fpr": 0.01,
            "guaranteed_fpr": 1 / 41,
            "target_fpr_kept": False,
            "more_normals_needed": 59,
        },
        manifest={"fit": [], "holdout": [], "anomalies": []},
        evaluation={"holdout": [[1, 0.31], [2, 0.45], [3, 0.52]], "anomalies": [[5, 0.83]]},
    )
    heat = np.zeros((assets[0].height, assets[0].width), np.float32)
    heat[8:24, 8:24] = 1.0
    heats = [heat] + [np.zeros_like(heat)] * 3
    record_scores(version=version, assets=assets, scores=[0.9, 0.8, 0.7, 0.6], heatmaps=heats)
    frames = list(Asset.objects.filter(source_video=video).order_by("frame_index"))
    record_scores(
        version=version,
        assets=frames,
        scores=[0.9 if 10 <= f.frame_index <= 20 else 0.1 for f in frames],
    )
    flag_segments(version=version, video=video)
    Site.objects.filter(pk=site.pk).update(active_version=version)
    square = object_services.create_class(site=site, name="square", colour="#ff0000")
    object_services.create_class(site=site, name="circle", colour="#00aaff")
    hook = hook_services.register_webhook(
        site=site,
        actor=admin,
        url="https://hooks.example.org/anomaly",
        events=["flag.created", "flag.reviewed"],
        description="Field notebook",
    )
    audit.record(
        site=site,
        actor=admin,
        action=AuditAction.REVIEW_REJECT,
        object_type="flag",
        object_id=1,
        summary="rejected flag 1",
    )
    return {
        "site": site,
        "empty": empty,
        "version": version,
        "asset": assets[0],
        "video": video,
        "flag": Flag.objects.get(score__asset=assets[0]),
        "hook": hook,
        "square": square,
    }


def test_every_main_page_passes_axe(page, live_server, park):  # type: ignore[no-untyped-def]
    """Login, sites, a site with its guide, upload with a result, review queue (heatmap on)
    and grid, model report, photo, video, labelling, classes, dashboard, audit, webhooks."""
    from playwright.sync_api import expect

    script = axe_script()
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        page.wait_for_load_state("load")
        screenshot(page, "a11y-" + re.sub(r"\W+", "-", name))
        violations = axe_violations(page, script)
        if violations:
            found[name] = violations

    def visit(name: str, path: str) -> None:
        page.goto(f"{live_server.url}{path}")
        check(name)

    page.goto(f"{live_server.url}/login/")
    check("login")
    log_in(page, live_server, "admin", "/")
    check("site list")
    visit("site page with the guide", "/sites/meadow/")
    visit("site page", "/sites/park/")

    page.goto(f"{live_server.url}/sites/park/upload/?purpose=train")
    check("upload")
    files = [{"name": "bench.png", "mimeType": "image/png", "buffer": png_bytes(green_texture(50))}]
    files.append({"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"})
    page.set_input_files("#id_files", files)
    page.get_by_role("button", name="Add photos", exact=True).click()
    expect(page.locator("#rejected-table")).to_contain_text("broken.jpg")
    check("upload result")

    visit("review queue", "/sites/park/review/")
    expect(page.locator("#heatmap-control")).to_be_visible()
    page.keyboard.press("h")
    expect(page.locator("#viewer-heatmap")).to_be_visible()
    check("review queue with the heatmap")
    page.keyboard.press("r")  # a decided flag stays in the list, dimmed
    expect(page.locator("#review-status")).to_contain_text("rejected as normal")
    check("review queue after a decision")
    visit("review grid", "/sites/park/review/grid/")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("#selection-count")).to_have_text("2 selected")
    check("review grid with a selection")
    page.keyboard.press("c")
    expect(page.locator("#grid-status")).to_contain_text("Press u to undo")
    check("review grid after a decision")
    visit("model report", f"/versions/{park['version'].pk}/")
    visit("photo", f"/assets/{park['asset'].pk}/")
    visit("video", f"/assets/{park['video'].pk}/")
    expect(page.locator("#score-curve")).to_have_attribute("data-drawn", "true")
    check("video, curve drawn")
    visit("labelling", f"/assets/{park['asset'].pk}/label/")
    visit("classes", "/sites/park/classes/")
    visit("dashboard", "/sites/park/dashboard/")
    visit("audit log", "/sites/park/audit/")
    visit("webhooks", "/sites/park/webhooks/")
    visit("webhook", f"/sites/park/webhooks/{park['hook'].pk}/")

    report = "\n".join(
        f"{name}:\n" + "\n".join(f"  {line}" for line in lines) for name, lines in found.items()
    )
    assert not found, f"axe found accessibility violations:\n{report}"


#: For the element with the focus: its focus ring, and the colour behind the ring (the
#: ring is drawn outside the element, so on its parents' backgrounds composited).
FOCUS_RING_JS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const rgba = (text) => {
        const m = text.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return [0, 0, 0, 0];
        const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const layers = [];
    for (let node = el.parentElement; node; node = node.parentElement) {
        const colour = rgba(getComputedStyle(node).backgroundColor);
        if (colour[3] > 0) layers.push(colour);
        if (colour[3] >= 1) break;
    }
    let behind = [255, 255, 255];
    for (const [r, g, b, a] of layers.reverse()) {
        behind = [r, g, b].map((c, i) => c * a + behind[i] * (1 - a));
    }
    const luminance = ([r, g, b]) => {
        const lin = (c) => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const style = getComputedStyle(el);
    const ring = rgba(style.outlineColor);
    const [l1, l2] = [luminance(ring), luminance(behind)].sort((a, b) => b - a);
    const rect = el.getBoundingClientRect();
    return {
        name: el.id ? "#" + el.id : [el.tagName.toLowerCase(), ...el.classList].join(".")
            + (el.classList.length ? "" : " " + JSON.stringify(el.textContent.trim().slice(0, 30))),
        style: style.outlineStyle,
        width: parseFloat(style.outlineWidth),
        contrast: (l1 + 0.05) / (l2 + 0.05),
        onScreen: rect.width > 0 && rect.height > 0 && rect.bottom > 0 && rect.right > 0
            && rect.left < innerWidth,
    };
}"""


def tab_through(page, presses: int = 80) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    """Tab from the top of the page; the focus ring of every element it reaches."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    page.evaluate("() => window.scrollTo(0, 0)")
    stops: list[dict] = []  # type: ignore[type-arg]
    for _ in range(presses):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING_JS)
        if ring is None or (stops and ring["name"] == stops[0]["name"]):
            break  # back at the start
        stops.append(ring)
    return stops


def assert_rings_visible(stops: list[dict]) -> None:  # type: ignore[type-arg]
    bad = [
        stop
        for stop in stops
        if stop["style"] in ("", "none") or stop["width"] < 2 or stop["contrast"] < 3
        or not stop["onScreen"]
    ]  # fmt: skip
    assert not bad, "focus not visible (no outline, under 2 px, under 3:1 or off screen):\n" + (
        "\n".join(map(str, bad))
    )


def test_review_queue_with_the_keyboard_alone(page, live_server, park):  # type: ignore[no-untyped-def]
    """Tab reaches every control of the queue, each with a visible focus ring; the skip
    link, choosing a flag and deciding it need no mouse and no shortcut key."""
    from playwright.sync_api import expect

    log_in(page, live_server, "reviewer", "/sites/park/review/")
    expect(page.locator("#heatmap-control")).to_be_visible()
    stops = tab_through(page)
    names = [stop["name"] for stop in stops]
    assert names[0] == "a.skip-link"
    for control in (
        "#grid-link",
        "#status-filter",
        "#heatmap-toggle",
        "#heatmap-opacity",
        "#review-note",
        "#confirm-button",
        "#reject-button",
        "#undo-button",
        "button.flag-select",
    ):
        assert control in names, f"Tab never reaches {control}: {names}"
    assert_rings_visible(stops)

    # the skip link jumps over the navigation
    page.locator("body").focus()
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip-link")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    # Tab to the second flag, Enter selects it; Tab on to the reject button, Enter decides
    second = page.locator("#flag-list .flag-item").nth(1)
    second.locator(".flag-select").focus()
    page.keyboard.press("Enter")
    expect(second).to_have_class(re.compile(r"\bselected\b"))
    page.locator("#review-note").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#confirm-button")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#reject-button")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#review-status")).to_contain_text("rejected as normal")
    expect(second.locator('[data-field="status"]')).to_have_text("Rejected (normal)")
    screenshot(page, "a11y-queue-keyboard")


def test_review_grid_focus_rings_with_the_keyboard(page, live_server, park):  # type: ignore[no-untyped-def]
    """Tab reaches the grid's buttons, note and photos (one tab stop for the grid), each
    with a visible focus ring. Selecting and deciding by keys is in test_review_grid."""
    log_in(page, live_server, "reviewer", "/sites/park/review/grid/")
    stops = tab_through(page)
    names = [stop["name"] for stop in stops]
    for control in (
        "#queue-link",
        "#grid-confirm",
        "#grid-reject",
        "#grid-undo",
        "#grid-select-all",
        "#grid-select-none",
        "#grid-note",
    ):
        assert control in names, f"Tab never reaches {control}: {names}"
    cells = [name for name in names if name.startswith("#grid-flag-")]
    assert len(cells) == 1, f"the grid should be one tab stop, not {cells}"
    assert_rings_visible(stops)
