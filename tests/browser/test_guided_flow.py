"""A first-time user, in a real browser with a real worker, from no site to a first reviewed
flag by following the "Getting started" steps: clicking and choosing files, no JSON typed,
the training on the form's default (automatic) choice."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import test_review_queue as review_queue_tests
from tests.browser.test_review_queue import log_in, screenshot
from tests.factories import UserFactory, normal_images, odd_images
from webapp.detectors.selectors import detector_kinds
from webapp.review.models import Flag, FlagStatus
from webapp.sites.models import Site

pytestmark = [*review_queue_tests.pytestmark, pytest.mark.worker]
browser = review_queue_tests.browser
page = review_queue_tests.page

TRAINING_MS = 240_000  # the worker trains "auto" (colour mix, then visual likeness) on CPU


def as_files(named: list[tuple[str, bytes]]) -> list[dict]:
    return [{"name": name, "mimeType": "image/png", "buffer": data} for name, data in named]


def test_a_new_user_follows_the_steps_to_a_first_review(page, live_server, worker):  # type: ignore[no-untyped-def]
    detector_kinds()  # imports the kinds (and torch) now, not inside the first page's timeout
    UserFactory(username="botanist")
    log_in(page, live_server, "botanist", "/")

    page.locator("#id_name").press_sequentially("Orchid house")
    expect(page.locator("#id_slug")).to_have_value("orchid-house")  # made from the name
    page.get_by_role("button", name="Create site").click()
    page.wait_for_url(f"{live_server.url}/sites/orchid-house/")
    guide = page.locator("#guide")
    expect(guide.locator('[aria-current="step"]')).to_contain_text("Add photos of what is normal")
    screenshot(page, "guide-empty-site")

    page.locator("#guide-next").click()  # "Add normal photos": purpose already chosen
    expect(page.get_by_label("Normal photos", exact=False)).to_be_checked()
    page.set_input_files("#id_files", as_files(normal_images(16)))
    page.get_by_role("button", name="Add photos", exact=True).click()
    expect(page.locator("#normal-count")).to_contain_text("16")
    page.locator("#next-train").click()

    expect(page.locator("#id_kind")).to_have_value("auto")  # nothing to choose or type
    expect(page.locator("#train-advanced")).not_to_have_attribute("open", "")
    page.get_by_role("button", name="Train new model").click()
    page.wait_for_url(re.compile(r".*/models/\d+/$"))
    expect(page.locator("#active-badge")).to_be_visible(timeout=TRAINING_MS)  # reloads when done
    expect(page.locator("#version-calibration")).to_contain_text("per 100 normal photos")
    screenshot(page, "guide-first-model")

    page.goto(f"{live_server.url}/sites/orchid-house/")
    expect(guide.locator('[aria-current="step"]')).to_contain_text("Add new photos to check")
    page.locator("#guide-next").click()
    expect(page.get_by_label("New photos to check", exact=False)).to_be_checked()
    page.set_input_files("#id_files", as_files([*odd_images(3), *normal_images(3, start=900)]))
    page.get_by_role("button", name="Add photos", exact=True).click()
    page.get_by_role("link", name="Next: review what it flags").click()

    site = Site.objects.get(slug="orchid-house")
    for _ in range(60):  # scoring runs in the worker; the page is reloaded until flags show
        if Flag.objects.filter(site=site, status=FlagStatus.PENDING).exists():
            break
        page.wait_for_timeout(1000)
    page.reload()
    selected = page.locator(".flag-item.selected")
    expect(selected).to_contain_text("odd-")  # the most unusual photo comes first
    first = page.locator(f'.flag-item[data-flag-id="{selected.get_attribute("data-flag-id")}"]')
    page.keyboard.press("c")
    expect(first.locator('[data-field="status"]')).to_have_text("Confirmed anomaly")
    assert Flag.objects.filter(site=site, status=FlagStatus.CONFIRMED).count() == 1

    page.goto(f"{live_server.url}/sites/orchid-house/")
    expect(page.locator("#guide")).to_have_count(0)  # every step done: the guide steps aside
    screenshot(page, "guide-done")
