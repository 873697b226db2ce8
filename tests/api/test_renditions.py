"""Display copies and thumbnails: every stored image shows in a browser, lists stay light."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.images import grey_blue_scene, png_bytes
from webapp.assets.models import Asset
from webapp.assets.renditions import DISPLAY_SIDE, THUMB_SIDE, rendition_names

pytestmark = pytest.mark.django_db


def _upload(client, named):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/sites/park/uploads/",
        {"purpose": "train", "files": [SimpleUploadedFile(n, d) for n, d in named]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return {a["filename"]: a["id"] for a in response.json()["assets"]}


def _decoded(response) -> np.ndarray:  # type: ignore[no-untyped-def]
    data = b"".join(response.streaming_content)
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_tiff_and_large_images_get_jpeg_renditions_small_pngs_are_served_as_they_are(
    api, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    deep = (np.linspace(0, 65535, 300 * 200).reshape(200, 300)).astype(np.uint16)  # 16-bit grey
    big = cv2.resize(grey_blue_scene(1), (DISPLAY_SIDE + 400, 1200))
    ids = _upload(
        api("uploader"),
        [
            ("scan.tiff", cv2.imencode(".tiff", deep)[1].tobytes()),
            ("big.png", png_bytes(big)),
            ("small.png", png_bytes(grey_blue_scene(2))),
        ],
    )
    viewer = api("viewer")
    shown = viewer.get(f"/api/assets/{ids['scan.tiff']}/display/")
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg"
    image = _decoded(shown)
    assert image.shape[:2] == (200, 300) and image.dtype == np.uint8
    assert image[0, 0].mean() < 10 and image[-1, -1].mean() > 245  # the range kept, in 8 bits
    thumb = _decoded(viewer.get(f"/api/assets/{ids['big.png']}/thumbnail/"))
    assert max(thumb.shape[:2]) == THUMB_SIDE
    display = _decoded(viewer.get(f"/api/assets/{ids['big.png']}/display/"))
    assert max(display.shape[:2]) == DISPLAY_SIDE
    small = viewer.get(f"/api/assets/{ids['small.png']}/display/")
    assert b"".join(small.streaming_content) == png_bytes(grey_blue_scene(2))
    detail = viewer.get(f"/api/assets/{ids['scan.tiff']}/").json()
    assert detail["display_url"] == f"/api/assets/{ids['scan.tiff']}/display/"

    # made once, kept in storage, and gone with the asset
    scan = Asset.objects.get(pk=ids["scan.tiff"])
    names = rendition_names(scan)
    assert default_storage.exists(names[0])
    assert api("outsider").get(f"/api/assets/{scan.pk}/display/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        scan.delete()
    assert not any(default_storage.exists(name) for name in names)


def test_images_and_renditions_are_revalidated_by_etag(api):  # type: ignore[no-untyped-def]
    """Browsers keep them (private, a day) and then ask again: 304, after the access check."""
    big = cv2.resize(grey_blue_scene(3), (640, 400))
    asset = _upload(api("uploader"), [("wide.png", png_bytes(big))])["wide.png"]
    viewer = api("viewer")
    for which in ("thumbnail", "display", "image"):
        url = f"/api/assets/{asset}/{which}/"
        first = viewer.get(url)
        assert first.status_code == 200, which
        assert first["Cache-Control"] == "private, max-age=86400"
        etag = first["ETag"]
        again = viewer.get(url, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304 and again["ETag"] == etag, which
        assert viewer.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200
        assert api("outsider").get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404
    thumbnail = viewer.get(f"/api/assets/{asset}/thumbnail/")["ETag"]
    assert thumbnail != viewer.get(f"/api/assets/{asset}/display/")["ETag"]
