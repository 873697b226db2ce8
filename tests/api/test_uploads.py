"""Uploads through the REST API, including every kind of bad input."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import normal_images, odd_images
from tests.images import green_texture, jpeg_bytes, png_bytes, zip_bytes
from webapp.assets.models import Asset, Upload

pytestmark = pytest.mark.django_db


def files(*named: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data) for name, data in named]


def post_upload(client, purpose: str, named, slug: str = "park"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/sites/{slug}/uploads/",
        {"purpose": purpose, "files": files(*named)},
        format="multipart",
    )


def test_upload_images_stores_assets_with_metadata(api):
    response = post_upload(api("uploader"), "train", normal_images(3))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [a["filename"] for a in body["assets"]] == [
        "green-000.png",
        "green-001.png",
        "green-002.png",
    ]
    assert body["rejected"] == []
    asset = Asset.objects.get(pk=body["assets"][0]["id"])
    assert (asset.width, asset.height, asset.purpose) == (64, 64, "train")
    assert len(asset.checksum) == 64
    assert asset.file.read() == normal_images(1)[0][1]


def test_zip_upload_with_folders(api):
    archive = zip_bytes({f"day1/{name}": data for name, data in normal_images(4)})
    response = post_upload(api("uploader"), "train", [("batch.zip", archive)])
    assert response.status_code == 201
    names = sorted(a["filename"] for a in response.json()["assets"])
    assert names == [f"batch.zip/day1/green-00{i}.png" for i in range(4)]


def test_bad_files_are_rejected_and_valid_ones_kept(api):
    truncated = jpeg_bytes(green_texture(99))[:200]
    response = post_upload(
        api("uploader"),
        "score",
        [
            *normal_images(2),
            ("notes.txt", b"just some text, not an image"),
            ("broken.jpg", truncated),
            ("empty.png", b""),
        ],
    )
    assert response.status_code == 201
    body = response.json()
    assert len(body["assets"]) == 2
    rejected = {r["filename"]: r["error"] for r in body["rejected"]}
    assert set(rejected) == {"notes.txt", "broken.jpg", "empty.png"}
    assert all(rejected.values())
    assert Upload.objects.get(pk=body["id"]).rejected == body["rejected"]


def test_duplicate_images_are_recognised_by_checksum(api):
    first = post_upload(api("uploader"), "train", normal_images(2))
    assert first.status_code == 201
    again = post_upload(api("uploader"), "score", [*normal_images(1), *odd_images(1)])
    assert again.status_code == 201
    body = again.json()
    assert [a["filename"] for a in body["assets"]] == ["odd-000.png"]
    assert "already asset" in body["rejected"][0]["error"]
    within = post_upload(
        api("uploader"),
        "score",
        [("a.png", png_bytes(green_texture(50))), ("b.png", png_bytes(green_texture(50)))],
    )
    assert "duplicate of a.png" in within.json()["rejected"][0]["error"]


def test_hostile_zip_members_are_refused_and_others_kept(api):
    buffer = io.BytesIO()
    good = normal_images(1)[0][1]
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok/leaf.png", good)
        archive.writestr("../../etc/evil.png", good[:-1] + b"x")
        archive.writestr("/abs/path.png", png_bytes(green_texture(7)))
        link = zipfile.ZipInfo("link.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    response = post_upload(api("uploader"), "train", [("mixed.zip", buffer.getvalue())])
    assert response.status_code == 201
    body = response.json()
    assert [a["filename"] for a in body["assets"]] == ["mixed.zip/ok/leaf.png"]
    assert len(body["rejected"]) == 3


def test_zip_bomb_is_refused(api, settings):
    settings.MAX_ZIP_TOTAL_BYTES = 2 * 1024**2
    settings.MAX_IMAGE_BYTES = 1024**2
    bomb = zip_bytes({"zeros.png": b"\0" * (20 * 1024**2)})
    response = post_upload(api("uploader"), "train", [("bomb.zip", bomb)])
    assert response.status_code == 400
    assert "bomb.zip" in response.json()["detail"]
    assert Asset.objects.count() == 0


def test_image_over_pixel_cap(api, settings):
    settings.MAX_IMAGE_PIXELS = 32 * 32
    response = post_upload(api("uploader"), "train", normal_images(1))
    assert response.status_code == 400
    assert "pixel" in response.json()["detail"].lower()


def test_empty_upload_and_bad_purpose(api):
    empty = api("uploader").post(
        "/api/sites/park/uploads/", {"purpose": "train"}, format="multipart"
    )
    assert empty.status_code == 400
    assert "No files" in empty.json()["detail"]
    purpose = post_upload(api("uploader"), "guess", normal_images(1))
    assert purpose.status_code == 400
    assert "purpose must be one of train, score (got 'guess')" in purpose.json()["detail"]


def test_chunked_upload_without_length_is_told_why_not_about_purpose(api):
    """WSGI gives Django no body for chunked requests: say so, not "purpose is missing"."""
    chunked = api("uploader").generic(
        "POST",
        "/api/sites/park/uploads/",
        b"",
        content_type="multipart/form-data; boundary=x",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert chunked.status_code == 411
    assert "Content-Length" in chunked.json()["detail"]


def test_oversize_request_is_413(api, settings):
    settings.MAX_UPLOAD_REQUEST_BYTES = 10_000
    big = [("big.png", png_bytes(green_texture(1, size=256)))]
    response = post_upload(api("uploader"), "train", big)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert Asset.objects.count() == 0


def test_roles_and_unknown_site(api):
    assert post_upload(api("viewer"), "train", normal_images(1)).status_code == 403
    assert post_upload(api("reviewer"), "train", normal_images(1)).status_code == 403
    assert post_upload(api("outsider"), "train", normal_images(1)).status_code == 404
    assert post_upload(api("admin"), "train", normal_images(1), slug="nowhere").status_code == 404
    assert post_upload(api("admin"), "train", normal_images(1)).status_code == 201


def test_asset_list_filters_image_and_label(api):
    post_upload(api("uploader"), "train", normal_images(3))
    post_upload(api("uploader"), "score", odd_images(2))
    listing = api("viewer").get("/api/sites/park/assets/?purpose=score").json()
    assert listing["count"] == 2
    assert {a["purpose"] for a in listing["results"]} == {"score"}
    asset_id = listing["results"][0]["id"]
    image = api("viewer").get(f"/api/assets/{asset_id}/image/")
    assert image.status_code == 200
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")
    assert api("outsider").get(f"/api/assets/{asset_id}/image/").status_code == 404
    assert api("viewer").get("/api/assets/999999/").status_code == 404
    labelled = api("uploader").patch(f"/api/assets/{asset_id}/", {"label": "oak"}, format="json")
    assert labelled.json()["label"] == "oak"
    # partial: what is not given stays as it was; what cannot change is refused by name
    untouched = api("uploader").patch(f"/api/assets/{asset_id}/", {}, format="json")
    assert untouched.status_code == 200 and untouched.json()["label"] == "oak"
    refused = api("uploader").patch(
        f"/api/assets/{asset_id}/", {"label": "elm", "sha256": "0" * 64}, format="json"
    )
    assert refused.status_code == 400 and "sha256 cannot be changed" in str(refused.json())
    assert api("viewer").get(f"/api/assets/{asset_id}/").json()["label"] == "oak"
    assert (
        api("viewer").patch(f"/api/assets/{asset_id}/", {"label": "x"}, format="json").status_code
        == 403
    )
    bad = api("viewer").get("/api/sites/park/assets/?flag_status=maybe")
    assert bad.status_code == 400
