"""Object classes, boxes, COCO import/export and flags with boxes, through the REST API."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from detection.objects import DetectedBox
from tests.conftest import client_for
from tests.factories import SiteFactory, member, normal_images, odd_images, upload_images
from tests.images import green_texture, png_bytes, zip_bytes
from webapp.assets.models import Purpose
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.objects import services as object_services
from webapp.objects.models import Box, ObjectClass
from webapp.review.models import Flag
from webapp.review.services import record_scores
from webapp.sites.roles import Role

pytestmark = pytest.mark.django_db

MEMBERS = ["viewer", "uploader", "reviewer", "admin"]


@pytest.fixture
def classes(site):  # type: ignore[no-untyped-def]
    return {
        "bottle": object_services.create_class(site=site, name="bottle", expected=3),
        "cap": object_services.create_class(site=site, name="cap", colour="#00FF00"),
    }


@pytest.fixture
def assets(site, users):  # type: ignore[no-untyped-def]
    """Three 64 x 64 train images."""
    return upload_images(site, users["uploader"], Purpose.TRAIN, normal_images(3))


def boxes_url(asset) -> str:  # type: ignore[no-untyped-def]
    return f"/api/assets/{asset.pk}/boxes/"


def stored(asset) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    return list(
        Box.objects.filter(asset=asset)
        .order_by("id")
        .values_list("object_class__name", "x", "y", "w", "h")
    )


# --- classes ---------------------------------------------------------------------------


def test_admin_creates_lists_updates_and_deletes_classes(api, site):
    admin = api("admin")
    response = admin.post(
        "/api/sites/park/classes/", {"name": "bottle", "expected": 3}, format="json"
    )
    assert response.status_code == 201, response.json()
    bottle = response.json()
    assert bottle["name"] == "bottle" and bottle["expected"] == 3 and not bottle["forbidden"]
    assert bottle["colour"].startswith("#") and len(bottle["colour"]) == 7
    assert bottle["n_boxes"] == 0
    response = admin.post(
        "/api/sites/park/classes/",
        {"name": "  wasp ", "forbidden": True, "colour": "#AA0000"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["name"] == "wasp" and response.json()["colour"] == "#aa0000"

    listed = api("viewer").get("/api/sites/park/classes/").json()
    assert [c["name"] for c in listed] == ["bottle", "wasp"]

    response = admin.patch(
        f"/api/classes/{bottle['id']}/", {"name": "Bottle", "expected": None}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Bottle" and response.json()["expected"] is None
    assert api("viewer").get(f"/api/classes/{bottle['id']}/").json()["name"] == "Bottle"

    assert admin.delete(f"/api/classes/{bottle['id']}/").status_code == 204
    assert not ObjectClass.objects.filter(pk=bottle["id"]).exists()


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({"name": "CAP"}, "name", "already has a class named 'CAP'"),
        ({"name": "unknown"}, "name", "reserved"),
        ({"name": ""}, "name", ""),
        ({"name": "wasp", "colour": "red"}, "colour", ""),
        ({"name": "wasp", "expected": -1}, "expected", ""),
        ({"name": "wasp", "expected": 1, "forbidden": True}, "expected", "forbidden"),
    ],
)
def test_bad_classes_are_refused(api, classes, payload, field, message):
    response = api("admin").post("/api/sites/park/classes/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"], body
    assert message in body["detail"]
    assert ObjectClass.objects.count() == 2


def test_renaming_onto_another_class_is_refused(api, classes):
    response = api("admin").patch(
        f"/api/classes/{classes['cap'].pk}/", {"name": "Bottle"}, format="json"
    )
    assert response.status_code == 400
    assert "already has a class named 'Bottle'" in response.json()["detail"]


def test_a_class_with_boxes_cannot_be_deleted(api, classes, assets):
    Box.objects.create(asset=assets[0], object_class=classes["cap"], x=1, y=1, w=5, h=5)
    response = api("admin").delete(f"/api/classes/{classes['cap'].pk}/")
    assert response.status_code == 409
    assert "still has 1 box" in response.json()["detail"]
    assert ObjectClass.objects.filter(pk=classes["cap"].pk).exists()


@pytest.mark.parametrize(
    "who, expected",
    [("viewer", 403), ("uploader", 403), ("reviewer", 403), ("admin", 201), ("outsider", 404)],
)
def test_only_admins_add_classes(api, site, who, expected):
    response = api(who).post("/api/sites/park/classes/", {"name": "bee"}, format="json")
    assert response.status_code == expected


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("viewer", 200, 403),
        ("uploader", 200, 403),
        ("reviewer", 200, 403),
        ("admin", 200, 200),
        ("outsider", 404, 404),
    ],
)
def test_class_roles(api, classes, who, read, write):
    cap = classes["cap"]
    client = api(who)
    assert client.get("/api/sites/park/classes/").status_code == read
    assert client.get(f"/api/classes/{cap.pk}/").status_code == read
    assert client.patch(f"/api/classes/{cap.pk}/", {"colour": "#123456"}).status_code == write
    assert client.delete(f"/api/classes/{cap.pk}/").status_code == (204 if write == 200 else write)


def test_anonymous_gets_401_on_object_endpoints(client, classes, assets):
    assert client.get("/api/sites/park/classes/").status_code == 401
    assert client.get(boxes_url(assets[0])).status_code == 401
    assert client.get("/api/sites/park/coco/").status_code == 401


# --- boxes -----------------------------------------------------------------------------


def test_put_and_get_boxes(api, classes, assets):
    asset = assets[0]
    boxes = [
        {"label": "bottle", "x": 0, "y": 0, "w": 10, "h": 20.5},
        {"label": "cap", "x": 50, "y": 40, "w": 14, "h": 24},  # touches the border
    ]
    response = api("uploader").put(boxes_url(asset), boxes, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [{k: b[k] for k in ("label", "x", "y", "w", "h")} for b in body] == boxes
    assert api("viewer").get(boxes_url(asset)).json() == body
    assert stored(asset) == [("bottle", 0, 0, 10, 20.5), ("cap", 50, 40, 14, 24)]

    # PUT replaces them all; an empty list clears; {"boxes": [...]} is accepted too.
    response = api("reviewer").put(
        boxes_url(asset), {"boxes": [{"label": "cap", "x": 1, "y": 2, "w": 3, "h": 4}]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    assert stored(asset) == [("cap", 1, 2, 3, 4)]
    assert api("admin").put(boxes_url(asset), [], format="json").json() == []
    assert stored(asset) == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"label": "cap", "x": 60, "y": 0, "w": 10, "h": 10}, "outside the 64 x 64 image"),
        ({"label": "cap", "x": -1, "y": 0, "w": 10, "h": 10}, "outside"),
        ({"label": "cap", "x": 5, "y": 5, "w": 0, "h": 10}, "must be positive"),
        ({"label": "cap", "x": 5, "y": 5, "w": 10, "h": -3}, "must be positive"),
        ({"label": "wasp", "x": 5, "y": 5, "w": 10, "h": 10}, "unknown class 'wasp'"),
        ({"label": "", "x": 5, "y": 5, "w": 10, "h": 10}, "label"),
        ({"label": "cap", "x": 5, "y": 5, "w": 10}, "missing field 'h'"),
        ({"label": "cap", "x": "5", "y": 5, "w": 10, "h": 10}, "x must be a number"),
        ("not a box", "must be an object"),
    ],
)
def test_a_bad_box_refuses_the_whole_put(api, classes, assets, bad, message):
    asset = assets[0]
    Box.objects.create(asset=asset, object_class=classes["cap"], x=1, y=1, w=5, h=5)
    good = {"label": "bottle", "x": 0, "y": 0, "w": 8, "h": 8}
    response = api("uploader").put(boxes_url(asset), [good, bad, good], format="json")
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]["boxes"]) == ["1"]
    assert body["errors"]["boxes"]["1"].startswith("box 1: ")
    assert message in body["errors"]["boxes"]["1"]
    assert "1 of 3 boxes refused, nothing was saved" in body["detail"]
    assert stored(asset) == [("cap", 1, 1, 5, 5)]  # unchanged


def test_every_bad_box_is_named(api, classes, assets):
    boxes = [
        {"label": "cap", "x": 0, "y": 0, "w": 8, "h": 8},
        {"label": "wasp", "x": 0, "y": 0, "w": 8, "h": 8},
        {"label": "cap", "x": 0, "y": 0, "w": 8, "h": 8},
        {"label": "cap", "x": 0, "y": 0, "w": 80, "h": 8},
    ]
    body = api("uploader").put(boxes_url(assets[0]), boxes, format="json").json()
    assert sorted(body["errors"]["boxes"]) == ["1", "3"]
    assert "box 1: unknown class 'wasp'" in body["detail"]
    assert "box 3: " in body["detail"]


@pytest.mark.parametrize("body", [{"label": "cap"}, "boxes", 3])
def test_boxes_must_be_a_list(api, classes, assets, body):
    response = api("uploader").put(boxes_url(assets[0]), body, format="json")
    assert response.status_code == 400
    assert "list" in response.json()["detail"]


def test_malformed_json_is_a_clear_400(api, classes, assets):
    response = api("uploader").put(boxes_url(assets[0]), "[{", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("viewer", 200, 403),
        ("uploader", 200, 200),
        ("reviewer", 200, 200),
        ("admin", 200, 200),
        ("outsider", 404, 404),
    ],
)
def test_box_roles(api, classes, assets, who, read, write):
    client = api(who)
    assert client.get(boxes_url(assets[0])).status_code == read
    response = client.put(
        boxes_url(assets[0]), [{"label": "cap", "x": 1, "y": 1, "w": 4, "h": 4}], format="json"
    )
    assert response.status_code == write
    if write == 403:
        assert "label objects" in response.json()["detail"]
    assert len(stored(assets[0])) == (1 if write == 200 else 0)


def test_boxes_and_classes_lists_take_a_fixed_number_of_queries(api, classes, assets):
    client = api("viewer")

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(path).status_code == 200
        return len(context)

    asset = assets[0]
    Box.objects.create(asset=asset, object_class=classes["cap"], x=1, y=1, w=5, h=5)
    few_boxes, few_classes = queries(boxes_url(asset)), queries("/api/sites/park/classes/")
    for i in range(20):
        cls = classes["bottle"] if i % 2 else classes["cap"]
        Box.objects.create(asset=asset, object_class=cls, x=i, y=1, w=5, h=5)
    for i in range(10):
        object_services.create_class(site=asset.site, name=f"class-{i}")
    assert queries(boxes_url(asset)) == few_boxes
    assert queries("/api/sites/park/classes/") == few_classes
    assert few_boxes <= 5 and few_classes <= 5


# --- COCO ------------------------------------------------------------------------------


def coco_for(names_sizes, annotations, categories=("bottle", "cap")):  # type: ignore[no-untyped-def]
    return {
        "images": [
            {"id": i + 1, "file_name": name, "width": w, "height": h}
            for i, (name, w, h) in enumerate(names_sizes)
        ],
        "annotations": [
            {"id": i + 1, "image_id": image, "category_id": cat, "bbox": bbox}
            for i, (image, cat, bbox) in enumerate(annotations)
        ],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(categories)],
    }


def post_coco(client, coco, slug: str = "park"):  # type: ignore[no-untyped-def]
    data = coco if isinstance(coco, bytes) else json.dumps(coco).encode()
    return client.post(
        f"/api/sites/{slug}/coco/",
        {"file": SimpleUploadedFile("annotations.json", data, "application/json")},
        format="multipart",
    )


def test_coco_import_matches_by_name_reports_the_rest_and_creates_classes(api, assets):
    coco = coco_for(
        [
            ("green-000.png", 64, 64),
            ("some/other/path/green-001.png", 64, 64),  # base name match
            ("green-002.png", 640, 480),  # wrong size: skipped with the reason
            ("missing.png", 64, 64),  # no such image: reported
        ],
        [
            (1, 1, [2, 3, 10, 12]),
            (1, 2, [30, 30, 5, 5]),
            (2, 2, [0, 0, 64, 64]),
            (3, 1, [0, 0, 100, 100]),
            (4, 1, [0, 0, 4, 4]),
        ],
        categories=("bottle", "cap"),
    )
    response = post_coco(api("admin"), coco)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["unmatched"] == ["missing.png"]
    assert [s["file_name"] for s in body["skipped"]] == ["green-002.png"]
    assert "640x480 but the image is 64x64" in body["skipped"][0]["error"]
    assert body["created_classes"] == ["bottle", "cap"]
    assert {m["file_name"]: m["boxes"] for m in body["matched"]} == {
        "green-000.png": 2,
        "some/other/path/green-001.png": 1,
    }
    assert stored(assets[0]) == [("bottle", 2, 3, 10, 12), ("cap", 30, 30, 5, 5)]
    assert stored(assets[1]) == [("cap", 0, 0, 64, 64)]
    assert stored(assets[2]) == []


def test_coco_import_uses_existing_classes_whatever_their_case(api, site, assets):
    object_services.create_class(site=site, name="Bottle")
    coco = coco_for([("green-000.png", 64, 64)], [(1, 1, [1, 1, 5, 5])], categories=("bottle",))
    body = post_coco(api("admin"), coco).json()
    assert body["created_classes"] == []
    assert stored(assets[0]) == [("Bottle", 1, 1, 5, 5)]


def test_coco_import_as_a_json_body(api, assets):
    coco = coco_for([("green-000.png", 64, 64)], [(1, 2, [1, 1, 5, 5])])
    response = api("admin").post("/api/sites/park/coco/", coco, format="json")
    assert response.status_code == 200, response.json()
    assert stored(assets[0]) == [("cap", 1, 1, 5, 5)]


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (json.dumps({"images": [], "annotations": []}).encode(), "no 'categories' list"),
        (
            json.dumps(coco_for([("green-000.png", 64, 64)], [(1, 1, [1, 2, 3])])).encode(),
            "bbox must be 4 numbers",
        ),
        (
            json.dumps(coco_for([("green-000.png", 64, 64)], [(1, 9, [1, 2, 3, 4])])).encode(),
            "unknown category_id 9",
        ),
        (
            json.dumps(coco_for([("green-000.png", 64, 64)], [(7, 1, [1, 2, 3, 4])])).encode(),
            "unknown image_id 7",
        ),
        (
            json.dumps(coco_for([("green-000.png", 64, 64)], [(1, 1, [50, 50, 30, 30])])).encode(),
            "outside",
        ),
    ],
)
def test_bad_coco_files_are_a_clear_400(api, assets, payload, message):
    response = post_coco(api("admin"), payload)
    assert response.status_code == 400
    assert message in response.json()["detail"], response.json()
    assert not Box.objects.exists() and not ObjectClass.objects.exists()


def test_coco_import_without_a_file(api, assets):
    response = api("admin").post("/api/sites/park/coco/", {}, format="multipart")
    assert response.status_code == 400
    assert "annotations.json" in response.json()["detail"]


def test_ambiguous_base_names_are_skipped(api, site, users):
    upload_images(
        site,
        users["uploader"],
        Purpose.TRAIN,
        [("a/x.png", png_bytes(green_texture(1))), ("b/x.png", png_bytes(green_texture(2)))],
    )
    coco = coco_for([("c/x.png", 64, 64)], [(1, 1, [1, 1, 5, 5])])
    body = post_coco(api("admin"), coco).json()
    assert body["matched"] == []
    assert "2 images of this site are named x.png" in body["skipped"][0]["error"]


@pytest.mark.parametrize(
    "who, export, import_",
    [
        ("viewer", 200, 403),
        ("uploader", 200, 403),
        ("reviewer", 200, 403),
        ("admin", 200, 200),
        ("outsider", 404, 404),
    ],
)
def test_coco_roles(api, assets, who, export, import_):
    client = api(who)
    assert client.get("/api/sites/park/coco/").status_code == export
    coco = coco_for([("green-000.png", 64, 64)], [(1, 1, [1, 1, 5, 5])])
    assert post_coco(client, coco).status_code == import_


def test_coco_export_and_round_trip_into_another_site(api, site, users, classes, assets):
    put = api("uploader").put
    put(boxes_url(assets[0]), [{"label": "cap", "x": 1.5, "y": 2, "w": 3, "h": 4}], format="json")
    put(
        boxes_url(assets[1]),
        [
            {"label": "bottle", "x": 0, "y": 0, "w": 64, "h": 64},
            {"label": "cap", "x": 10, "y": 20, "w": 30, "h": 5.25},
        ],
        format="json",
    )
    response = api("viewer").get("/api/sites/park/coco/")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    coco = response.json()
    assert [c["name"] for c in coco["categories"]] == ["bottle", "cap"]
    assert len(coco["images"]) == 3 and len(coco["annotations"]) == 3

    # Another site with the same images (in a zip, so under other paths) gets the same boxes.
    other = SiteFactory(slug="copy")
    admin = member(other, Role.ADMIN, username="copy-admin")
    copies = upload_images(
        other, admin, Purpose.TRAIN, [("copy.zip", zip_bytes(dict(normal_images(3))))]
    )
    assert copies[0].filename == "copy.zip/green-000.png"
    body = post_coco(client_for(admin), json.dumps(coco).encode(), slug="copy").json()
    assert body["unmatched"] == [] and body["skipped"] == []
    assert body["created_classes"] == ["bottle", "cap"]
    assert len(body["matched"]) == 3
    for asset, copy in zip(assets, copies, strict=True):
        assert stored(copy) == stored(asset)
    assert client_for(admin).get("/api/sites/copy/coco/").json() == {
        **coco,
        "images": [{**i, "file_name": f"copy.zip/{i['file_name']}"} for i in coco["images"]],
    }


# --- flags with boxes --------------------------------------------------------------------


@pytest.fixture
def object_version(site):  # type: ignore[no-untyped-def]
    return DetectorVersion.objects.create(
        site=site, number=1, kind="ssd_openset", status=JobStatus.SUCCEEDED, threshold=0.5
    )


@pytest.fixture
def flag_with_boxes(site, users, classes, object_version):  # type: ignore[no-untyped-def]
    """A score image with a known cap and an unknown object: flagged for the unknown one."""
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(1))
    detected = [
        [
            DetectedBox("cap", 4, 4, 10, 10, confidence=0.9, openness=0.1),
            DetectedBox("bottle", 30, 20, 20, 30, confidence=0.4, openness=0.8),
        ]
    ]
    details = object_services.describe_detections(site=site, threshold=0.5, boxes=detected)
    record_scores(version=object_version, assets=assets, scores=[0.8], details=details)
    return Flag.objects.get(score__asset=assets[0])


def test_a_flag_carries_its_boxes_and_reasons(api, flag_with_boxes):
    flags = api("viewer").get("/api/sites/park/flags/?status=pending").json()["results"]
    assert len(flags) == 1
    flag = flags[0]
    assert flag["score"] == 0.8
    known, unknown = flag["boxes"]
    assert known["label"] == "cap" and not known["unknown"] and known["reason"] == ""
    assert unknown["label"] == "unknown" and unknown["unknown"]
    assert unknown["nearest_class"] == "bottle"
    assert (unknown["x"], unknown["y"], unknown["w"], unknown["h"]) == (30, 20, 20, 30)
    assert "unlike every known class" in unknown["reason"]
    # bottle expects 3 per image and none is known here; cap has no rule
    assert flag["reasons"] == ["expected 3 'bottle', saw 0"]
    assert api("viewer").get(f"/api/flags/{flag['id']}/").json()["boxes"] == flag["boxes"]


def test_flags_of_other_kinds_have_no_boxes(api, site, users):
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(1))
    record_scores(version=version, assets=assets, scores=[0.9])
    flag = api("viewer").get("/api/sites/park/flags/").json()["results"][0]
    assert flag["boxes"] == [] and flag["reasons"] == []


def test_a_reviewer_names_an_unknown_object(api, flag_with_boxes):
    url = f"/api/flags/{flag_with_boxes.pk}/name-object/"
    response = api("reviewer").post(url, {"box": 1, "label": "CAP"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["boxes"][1]["named_as"] == "cap"
    asset = flag_with_boxes.score.asset
    assert stored(asset) == [("cap", 30, 20, 20, 30)]
    assert api("viewer").get(boxes_url(asset)).json()[0]["label"] == "cap"


def test_only_admins_name_an_object_with_a_new_class(api, flag_with_boxes):
    url = f"/api/flags/{flag_with_boxes.pk}/name-object/"
    response = api("reviewer").post(url, {"box": 1, "label": "wasp"}, format="json")
    assert response.status_code == 400
    assert "only an admin can add a class" in response.json()["detail"]
    assert not Box.objects.exists()
    response = api("admin").post(url, {"box": 1, "label": "wasp"}, format="json")
    assert response.status_code == 200
    assert ObjectClass.objects.filter(name="wasp").exists()
    assert stored(flag_with_boxes.score.asset) == [("wasp", 30, 20, 20, 30)]
    response = api("admin").post(url, {"box": 5, "label": "wasp"}, format="json")
    assert response.status_code == 400 and "no box 5" in response.json()["detail"]


@pytest.mark.parametrize(
    "who, expected",
    [("viewer", 403), ("uploader", 403), ("reviewer", 200), ("admin", 200), ("outsider", 404)],
)
def test_naming_roles(api, flag_with_boxes, who, expected):
    url = f"/api/flags/{flag_with_boxes.pk}/name-object/"
    assert api(who).post(url, {"box": 1, "label": "cap"}, format="json").status_code == expected
