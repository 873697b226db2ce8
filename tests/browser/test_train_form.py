"""The training form's method settings, built in the browser from the kind's JSON Schema."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.browser import test_review_queue as review_queue_tests
from tests.browser.test_review_queue import log_in, screenshot
from tests.factories import member, normal_images, upload_images
from webapp.assets.models import Purpose
from webapp.detectors.models import DetectorVersion
from webapp.sites.models import Site
from webapp.sites.roles import Role

pytestmark = review_queue_tests.pytestmark
browser = review_queue_tests.browser
page = review_queue_tests.page


@pytest.fixture
def meadow(transactional_db):  # type: ignore[no-untyped-def]
    """A site with enough normal photos to train on, and no model yet."""
    site = Site.objects.create(slug="meadow", name="Meadow")
    people = {role: member(site, role, username=role) for role in Role.values}
    upload_images(site, people["uploader"], Purpose.TRAIN, normal_images(6))
    return site


def test_settings_are_inputs_built_from_the_schema(page, live_server, meadow):  # type: ignore[no-untyped-def]
    log_in(page, live_server, "admin", "/sites/meadow/")
    page.locator("#id_kind").select_option(label="Colour mix")
    page.locator("#train-advanced summary").click()
    # The JSON textarea is the no-JavaScript fallback; the inputs replace it.
    assert page.locator("#id_params").is_hidden()
    grid = page.locator("#param-grid")
    assert (grid.get_attribute("type"), grid.get_attribute("min")) == ("number", "1")
    assert grid.get_attribute("max") == "8" and grid.input_value() == "2"
    help_text = page.locator("#param-grid-help").inner_text()
    assert "Default: 2." in help_text and "grid" in help_text
    assert page.locator("#param-space").evaluate("e => e.tagName") == "SELECT"
    assert page.locator("#param-bins").input_value() == "3, 3, 3"
    # Another kind: its own fields.
    page.locator("#id_kind").select_option("deep_knn")
    assert page.locator("#param-grid").count() == 0
    assert page.locator("#param-keep_aspect").get_attribute("type") == "checkbox"
    page.locator("#id_kind").select_option(label="Colour mix")
    page.locator("#param-grid").fill("3")
    screenshot(page, "train-form-settings")
    page.get_by_role("button", name="Train new model").click()
    page.wait_for_url(f"{live_server.url}/sites/**/models/**")
    version = DetectorVersion.objects.get()
    assert version.kind == "histogram_iforest"
    assert version.params["grid"] == 3 and version.params["bins"] == [3, 3, 3]


def test_bad_setting_is_explained_and_kept(page, live_server, meadow):  # type: ignore[no-untyped-def]
    log_in(page, live_server, "admin", "/sites/meadow/")
    page.locator("#id_kind").select_option(label="Colour mix")
    page.locator("#train-advanced summary").click()
    page.locator("#param-space").select_option("l2")  # needs grid 1
    page.get_by_role("button", name="Train new model").click()
    page.wait_for_load_state()
    assert "grid layouts need space" in page.locator("#train-form").inner_text()
    assert json.loads(page.locator("#id_params").input_value()) == {"space": "l2"}
    assert page.locator("#param-space").input_value() == "l2"
    assert not DetectorVersion.objects.exists()
