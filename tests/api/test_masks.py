"""Defect masks: NAME_mask.png beside NAME.ext in an upload, or set through the API."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.images import grey_blue_scene, png_bytes, zip_bytes

pytestmark = pytest.mark.django_db


def _mask(size: int = 64) -> bytes:
    mask = np.zeros((size, size, 3), np.uint8)
    mask[5:15, 5:15] = 200  # any non-black pixel is defect
    return png_bytes(mask)


def _post(client, files):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/sites/park/uploads/",
        {"purpose": "score", "files": [SimpleUploadedFile(n, d) for n, d in files]},
        format="multipart",
    )


def test_masks_in_an_upload_go_to_their_images(api):
    archive = zip_bytes(
        {
            "day1/a_mask.png": _mask(),  # before its image: order does not matter
            "day1/a.png": png_bytes(grey_blue_scene(1)),
            "day1/b.png": png_bytes(grey_blue_scene(2)),
            "day1/c_mask.png": _mask(),  # no image c
            "day1/d.png": png_bytes(grey_blue_scene(4)),
            "day1/d_mask.png": _mask(32),  # wrong size
        }
    )
    response = _post(api("uploader"), [("batch.zip", archive)])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert sorted(a["filename"] for a in body["assets"]) == [
        "batch.zip/day1/a.png",
        "batch.zip/day1/b.png",
        "batch.zip/day1/d.png",
    ]
    assert [m["filename"] for m in body["masked"]] == ["batch.zip/day1/a.png"]
    errors = {r["filename"]: r["error"] for r in body["rejected"]}
    assert "no image named c.*" in errors["batch.zip/day1/c_mask.png"]
    assert "32x32 but the image is 64x64" in errors["batch.zip/day1/d_mask.png"]

    a = body["masked"][0]["id"]
    detail = api("viewer").get(f"/api/assets/{a}/").json()
    assert detail["mask_url"] == f"/api/assets/{a}/mask/"
    response = api("viewer").get(detail["mask_url"])
    mask = cv2.imdecode(
        np.frombuffer(b"".join(response.streaming_content), np.uint8), cv2.IMREAD_UNCHANGED
    )
    assert mask.shape == (64, 64) and set(np.unique(mask)) == {0, 255}
    assert mask[10, 10] == 255 and mask[40, 40] == 0


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_black_and_white_png_beside_a_photo_of_its_name_is_its_mask(api):
    """magnetic-tile's layout: NAME.jpg with its mask NAME.png (all black for a good tile)."""
    white = np.zeros((64, 64), np.uint8)
    white[20:30, 20:30] = 255
    drawing = np.full((64, 64), 255, np.uint8)
    drawing[::8] = 0  # a black-and-white picture with no photo beside it: an image
    archive = zip_bytes(
        {
            "MT_Crack/t1.jpg": _jpeg(grey_blue_scene(1)),
            "MT_Crack/t1.png": png_bytes(white),
            "MT_Free/t2.jpg": _jpeg(grey_blue_scene(2)),
            "MT_Free/t2.png": png_bytes(np.zeros((64, 64), np.uint8)),
            "other/t3.jpg": _jpeg(grey_blue_scene(3)),
            "other/t3.png": png_bytes(grey_blue_scene(3)),  # a colour photo: both are images
            "lines.png": png_bytes(drawing),
        }
    )
    body = _post(api("uploader"), [("tiles.zip", archive)]).json()
    assert sorted(a["filename"] for a in body["assets"]) == [
        "tiles.zip/MT_Crack/t1.jpg",
        "tiles.zip/MT_Free/t2.jpg",
        "tiles.zip/lines.png",
        "tiles.zip/other/t3.jpg",
        "tiles.zip/other/t3.png",
    ]
    assert sorted(m["filename"] for m in body["masked"]) == [
        "tiles.zip/MT_Crack/t1.jpg",
        "tiles.zip/MT_Free/t2.jpg",
    ]
    crack = next(m["id"] for m in body["masked"] if "t1" in m["filename"])
    response = api("viewer").get(f"/api/assets/{crack}/mask/")
    mask = cv2.imdecode(
        np.frombuffer(b"".join(response.streaming_content), np.uint8), cv2.IMREAD_UNCHANGED
    )
    assert mask[25, 25] == 255 and mask[5, 5] == 0


def test_the_cli_skips_masks_named_like_their_photo(tmp_path):  # type: ignore[no-untyped-def]
    from detection.images import list_images, mask_beside

    cv2.imwrite(str(tmp_path / "t1.jpg"), grey_blue_scene(1))
    cv2.imwrite(str(tmp_path / "t1.png"), np.zeros((64, 64), np.uint8))
    cv2.imwrite(str(tmp_path / "t2.jpg"), grey_blue_scene(2))
    cv2.imwrite(str(tmp_path / "t2_mask.png"), np.zeros((64, 64), np.uint8))
    cv2.imwrite(str(tmp_path / "t3.png"), grey_blue_scene(3))
    assert [p.name for p in list_images(tmp_path)] == ["t1.jpg", "t2.jpg", "t3.png"]
    assert mask_beside(tmp_path / "t1.jpg") == tmp_path / "t1.png"
    assert mask_beside(tmp_path / "t2.jpg") == tmp_path / "t2_mask.png"
    assert mask_beside(tmp_path / "t3.png") is None


def test_a_mask_alone_finds_an_image_uploaded_earlier(api):
    first = _post(api("uploader"), [("leaf.png", png_bytes(grey_blue_scene(7)))]).json()
    response = _post(api("uploader"), [("leaf_mask.png", _mask())])
    assert response.status_code == 201, response.json()
    assert response.json()["masked"] == [{"id": first["assets"][0]["id"], "filename": "leaf.png"}]
    assert response.json()["assets"] == []


def test_set_and_remove_a_mask_through_the_api(api):
    asset = _post(api("uploader"), [("leaf.png", png_bytes(grey_blue_scene(3)))]).json()
    url = f"/api/assets/{asset['assets'][0]['id']}/mask/"
    assert api("viewer").get(url).status_code == 404
    file = SimpleUploadedFile("m.png", _mask())
    assert api("reviewer").put(url, {"file": file}, format="multipart").status_code == 403
    response = api("uploader").put(
        url, {"file": SimpleUploadedFile("m.png", _mask())}, format="multipart"
    )
    assert response.status_code == 200 and response.json()["mask_url"] == url
    bad = api("uploader").put(
        url, {"file": SimpleUploadedFile("m.png", b"not an image")}, format="multipart"
    )
    assert bad.status_code == 400 and "file" in bad.json()["errors"]
    assert api("uploader").delete(url).json()["mask_url"] is None
    assert api("viewer").get(url).status_code == 404
    assert api("outsider").get(url).status_code == 404
