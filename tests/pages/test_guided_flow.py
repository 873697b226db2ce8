"""The guided flow: each step of a new site says what to do next, in plain words."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from detection.registry import available_kinds, detector_class
from tests.factories import normal_images, odd_images, upload_images
from webapp.assets.models import Purpose
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review.services import record_scores, review_flag
from webapp.sites.guide import first_steps, recommended_normals
from webapp.sites.models import Site

pytestmark = pytest.mark.django_db


def steps(site, user) -> dict[str, tuple[bool, bool]]:  # type: ignore[no-untyped-def]
    return {step.key: (step.done, step.current) for step in first_steps(site, user).steps}


def test_each_step_turns_done_in_order(site, users):
    admin = users["admin"]
    assert steps(site, admin) == {
        "normal": (False, True),
        "train": (False, False),
        "check": (False, False),
        "review": (False, False),
    }
    upload_images(site, admin, Purpose.TRAIN, normal_images(5))
    assert steps(site, admin)["normal"] == (True, False)
    assert steps(site, admin)["train"] == (False, True)
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.RUNNING, progress=0.4
    )
    guide = first_steps(site, admin)
    assert guide.current.key == "train" and "Model 1 is training (40 %)" in guide.current.text
    version.status, version.threshold = JobStatus.SUCCEEDED, 0.5
    version.save()
    site.active_version = version
    site.save()
    (odd,) = upload_images(site, admin, Purpose.SCORE, odd_images(1))
    record_scores(version=version, assets=[odd], scores=[0.9])
    guide = first_steps(site, admin)
    assert guide.current.key == "review" and "1 flagged photo wait" in guide.current.text
    review_flag(flag_id=odd.scores.get().flag.pk, reviewer=users["reviewer"], decision="reject")
    assert first_steps(site, admin).finished


def test_the_normal_step_names_the_minimum_and_the_recommended_count(site, users):
    upload_images(site, users["admin"], Purpose.TRAIN, normal_images(3))
    text = first_steps(site, users["admin"]).steps[0].text
    assert text.startswith("3 normal photos so far")
    assert "at least 5" in text and f"{recommended_normals()} or more" in text
    assert recommended_normals() == 99  # 1 false alarm per 100 needs 99 calibration normals


def test_steps_a_role_cannot_do_say_whom_to_ask(client, site, users):
    client.force_login(users["viewer"])
    page = client.get("/sites/park/").content.decode()
    assert 'id="guide"' in page
    assert "ask a site admin" in page and 'id="guide-next"' not in page
    client.force_login(users["admin"])
    page = client.get("/sites/park/").content.decode()
    assert 'id="guide-next" href="/sites/park/upload/?purpose=train"' in page


def test_the_upload_page_preselects_the_purpose_and_offers_the_next_step(client, site, users):
    client.force_login(users["admin"])
    page = client.get("/sites/park/upload/?purpose=train").content.decode()
    assert 'value="train" id="id_purpose_0" required checked' in page
    files = [SimpleUploadedFile(name, data) for name, data in normal_images(6)]
    result = client.post("/sites/park/upload/", {"purpose": "train", "files": files})
    page = result.content.decode()
    assert "The site now has <strong>6</strong> normal photos" in page
    assert 'id="next-train"' in page and "Next: train a model" in page


def test_a_site_is_created_from_its_name_alone(client, users):
    client.force_login(users["outsider"])
    response = client.post("/", {"name": "Rose garden (north)", "slug": "", "description": ""})
    assert response["Location"] == "/sites/rose-garden-north/"
    again = client.post("/", {"name": "Rose garden (north)", "slug": ""})
    assert again["Location"] == "/sites/rose-garden-north-2/"
    assert Site.objects.filter(slug__startswith="rose-garden-north").count() == 2


def test_the_api_makes_a_slug_too(api):
    created = api("outsider").post("/api/sites/", {"name": "Quay camera"}, format="json")
    assert created.status_code == 201 and created.json()["slug"] == "quay-camera"


def test_every_kind_has_a_plain_title_and_summary(api):
    for kind in available_kinds():
        cls = detector_class(kind)
        assert cls.title and cls.title != kind, kind
        assert cls.summary.endswith(".") and len(cls.summary) < 200, kind
    listed = {row["kind"]: row for row in api("viewer").get("/api/detector-kinds/").json()}
    assert listed["auto"]["title"] == "Automatic (recommended)"


def test_the_train_form_speaks_plainly_and_hides_the_settings(client, site, users):
    client.force_login(users["admin"])
    page = client.get("/sites/park/").content.decode()
    assert '<option value="auto" selected>Automatic (recommended)</option>' in page
    advanced = page.index('id="train-advanced"')
    assert page.index('id="id_params"') > advanced  # JSON only under "Advanced settings"
    assert page.index('id="id_kind"') < advanced


def test_a_model_lives_at_its_number_under_the_site(client, site, users):
    other = Site.objects.create(slug="quay", name="Quay")
    DetectorVersion.objects.create(site=other, number=1, kind="histogram_iforest")
    version = DetectorVersion.objects.create(
        site=site, number=3, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    client.force_login(users["viewer"])
    response = client.get(f"/versions/{version.pk}/")  # the id API clients know
    assert response.status_code == 302 and response["Location"] == "/sites/park/models/3/"
    page = client.get("/sites/park/models/3/").content.decode()
    assert "<title>Model 3 · City park" in page and "<h1>Model 3" in page
    assert client.get("/sites/park/models/4/").status_code == 404
    assert client.get("/sites/quay/models/1/").status_code == 404  # not a member there
