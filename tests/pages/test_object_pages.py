"""The object pages through Django's test client: class list, COCO import form, labelling."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import normal_images, upload_images
from webapp.assets.models import Purpose
from webapp.objects import services
from webapp.objects.models import Box, ObjectClass

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(site, users):  # type: ignore[no-untyped-def]
    assets = upload_images(site, users["uploader"], Purpose.TRAIN, normal_images(3))
    cap = services.create_class(site=site, name="cap")
    Box.objects.create(asset=assets[1], object_class=cap, x=1, y=2, w=3, h=4)
    return assets


def test_class_page_for_members_and_admins(client, users, labelled):
    client.force_login(users["viewer"])
    page = client.get("/sites/park/classes/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "cap" in text and 'id="class-form"' not in text and 'id="coco-form"' not in text
    assert "2 without boxes" in text
    assert client.post("/sites/park/classes/", {"name": "bee"}).status_code == 403

    client.force_login(users["admin"])
    text = client.get("/sites/park/classes/").content.decode()
    assert 'id="class-form"' in text and 'id="coco-form"' in text
    response = client.post("/sites/park/classes/", {"name": "bee", "expected": "2"})
    assert response.status_code == 302
    assert ObjectClass.objects.get(name="bee").expected == 2
    response = client.post("/sites/park/classes/", {"name": "BEE"})
    assert response.status_code == 400
    assert "already has a class named" in response.content.decode()

    bee = ObjectClass.objects.get(name="bee")
    response = client.post(
        f"/sites/park/classes/{bee.pk}/", {"name": "wasp", "colour": "#ff0000", "forbidden": "on"}
    )
    assert response.status_code == 302
    bee.refresh_from_db()
    assert (bee.name, bee.colour, bee.forbidden, bee.expected) == ("wasp", "#ff0000", True, None)
    cap = ObjectClass.objects.get(name="cap")
    client.post(f"/sites/park/classes/{cap.pk}/", {"delete": "1"})
    assert ObjectClass.objects.filter(pk=cap.pk).exists()  # it has a box
    client.post(f"/sites/park/classes/{bee.pk}/", {"delete": "1"})
    assert not ObjectClass.objects.filter(pk=bee.pk).exists()


def test_coco_import_form(client, users, labelled):
    client.force_login(users["admin"])
    coco = {
        "images": [
            {"id": 1, "file_name": "x/green-000.png", "width": 64, "height": 64},
            {"id": 2, "file_name": "nowhere.png", "width": 64, "height": 64},
        ],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 9, 9]}],
        "categories": [{"id": 1, "name": "bee"}],
    }
    upload = SimpleUploadedFile("annotations.json", json.dumps(coco).encode())
    response = client.post("/sites/park/coco/import/", {"file": upload})
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="coco-matched">1<' in text and "nowhere.png" in text
    assert Box.objects.get(asset=labelled[0]).object_class.name == "bee"
    bad = SimpleUploadedFile("annotations.json", b"{oops")
    response = client.post("/sites/park/coco/import/", {"file": bad})
    assert response.status_code == 400 and "not JSON" in response.content.decode()


def test_label_page(client, users, labelled):
    first, boxed, last = labelled
    client.force_login(users["uploader"])
    page = client.get(f"/assets/{boxed.pk}/label/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="label-keys"' in text and 'data-can-label="true"' in text
    setup = json.loads(text.split('id="label-setup" type="application/json">')[1].split("<")[0])
    assert setup["boxes"] == [{"id": setup["boxes"][0]["id"], "label": "cap", "x": 1.0,
                               "y": 2.0, "w": 3.0, "h": 4.0}]  # fmt: skip
    assert f'id="previous-unlabelled" href="/assets/{first.pk}/label/"' in text
    assert f'id="next-unlabelled" href="/assets/{last.pk}/label/"' in text

    client.force_login(users["viewer"])
    text = client.get(f"/assets/{boxed.pk}/label/").content.decode()
    assert 'data-can-label="false"' in text and 'id="read-only-notice"' in text
    client.force_login(users["outsider"])
    assert client.get(f"/assets/{boxed.pk}/label/").status_code == 404
    assert client.get("/sites/park/classes/").status_code == 404


def test_asset_and_site_pages_link_to_the_object_pages(client, users, labelled):
    client.force_login(users["viewer"])
    asset_page = client.get(f"/assets/{labelled[0].pk}/").content.decode()
    assert f'href="/assets/{labelled[0].pk}/label/"' in asset_page
    assert 'href="/sites/park/classes/"' in client.get("/sites/park/").content.decode()


def test_version_page_shows_object_metrics(client, site, users):
    from webapp.detectors.models import DetectorVersion, JobStatus

    objects = {
        "map_50": 0.81234,
        "map_50_95": 0.4567,
        "unknown_image_auroc": 0.97,
        "unknown_recall": None,
        "open_set_error": 2,
        "n_known_objects": 40,
        "n_unknown_objects": 0,
    }
    version = DetectorVersion.objects.create(
        site=site,
        number=1,
        kind="ssd_openset",
        status=JobStatus.SUCCEEDED,
        threshold=0.5,
        metrics={"auroc": 0.9, "objects": objects},
    )
    plain = DetectorVersion.objects.create(
        site=site, number=2, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    client.force_login(users["viewer"])
    text = client.get(f"/versions/{version.pk}/", follow=True).content.decode()
    assert 'id="object-metrics"' in text
    for key, shown in [
        ("map_50", "0.812"),
        ("map_50_95", "0.457"),
        ("unknown_image_auroc", "0.970"),
        ("unknown_recall", "—"),
        ("open_set_error", "2"),
        ("n_known_objects", "40"),
    ]:
        assert f'data-metric="{key}">{shown}<' in text, key
    assert (
        'id="object-metrics"'
        not in client.get(f"/versions/{plain.pk}/", follow=True).content.decode()
    )
