"""Media on S3 in the web process: uploads, masks, renditions, video previews, heatmaps and
deletion, checked object by object in the bucket of a local S3 server (moto)."""

from __future__ import annotations

import socket

import cv2
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

import webapp.settings as product_settings
from tests.factories import normal_images, odd_images, upload_images
from tests.images import grey_blue_scene, png_bytes, zip_bytes
from tests.vidfiles import clip_bytes
from webapp.assets.models import Asset, Purpose
from webapp.assets.renditions import DISPLAY_SIDE, rendition_names
from webapp.common.jobs import is_transient
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review.models import Score
from webapp.review.services import record_scores

pytestmark = [pytest.mark.django_db, pytest.mark.s3]


def _upload(client, named, purpose="train"):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/sites/park/uploads/",
        {"purpose": purpose, "files": [SimpleUploadedFile(n, d) for n, d in named]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content)


def test_uploads_put_images_zip_members_and_masks_in_the_bucket(s3, api):
    (a_name, a_data), (b_name, b_data) = normal_images(2)
    mask = np.zeros((64, 64), np.uint8)
    mask[8:16, 8:16] = 255
    archive = zip_bytes(
        {
            "inside/odd.png": png_bytes(grey_blue_scene(1)),
            "inside/odd_mask.png": png_bytes(mask),
            "inside/green.png": normal_images(1, start=7)[0][1],
        }
    )
    body = _upload(api("uploader"), [(a_name, a_data), (b_name, b_data), ("set.zip", archive)])
    assert body["rejected"] == []
    assets = Asset.objects.filter(pk__in=[a["id"] for a in body["assets"]])
    assert assets.count() == 4
    keys = s3.objects()
    for asset in assets:
        assert asset.file.name in keys
        served = _body(api("viewer").get(f"/api/assets/{asset.pk}/image/"))
        assert served == s3.read(asset.file.name)  # what is served is what is in the bucket
    assert s3.read(assets.get(filename=a_name).file.name) == a_data
    odd = assets.get(filename="set.zip/inside/odd.png")
    assert odd.mask.name in keys
    served_mask = api("viewer").get(f"/api/assets/{odd.pk}/mask/")
    assert served_mask.status_code == 200
    assert cv2.imdecode(np.frombuffer(_body(served_mask), np.uint8), 0)[10, 10] == 255

    # A second upload of the same image is refused as a duplicate; nothing is overwritten.
    again = api("uploader").post(
        "/api/sites/park/uploads/",
        {"purpose": "train", "files": [SimpleUploadedFile("again.png", a_data)]},
        format="multipart",
    )
    assert again.status_code == 400 and "duplicate" in again.json()["detail"]
    assert s3.objects() == keys


def test_renditions_are_made_from_the_bucket_kept_there_and_go_with_their_asset(
    s3, api, django_capture_on_commit_callbacks
):
    deep = np.linspace(0, 65535, 300 * 200).reshape(200, 300).astype(np.uint16)
    big = cv2.resize(grey_blue_scene(1), (DISPLAY_SIDE + 200, 900))
    body = _upload(
        api("uploader"),
        [
            ("scan.tiff", cv2.imencode(".tiff", deep)[1].tobytes()),
            ("big.png", png_bytes(big)),
            ("small.png", png_bytes(grey_blue_scene(2))),
        ],
    )
    ids = {a["filename"]: a["id"] for a in body["assets"]}
    viewer = api("viewer")
    for name in ("scan.tiff", "big.png"):
        for which, side in (("display", DISPLAY_SIDE), ("thumbnail", 256)):
            response = viewer.get(f"/api/assets/{ids[name]}/{which}/")
            assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
            image = cv2.imdecode(np.frombuffer(_body(response), np.uint8), cv2.IMREAD_COLOR)
            assert max(image.shape[:2]) <= side
        assert set(rendition_names(Asset.objects.get(pk=ids[name]))) <= s3.objects()
    small = Asset.objects.get(pk=ids["small.png"])
    shown = viewer.get(f"/api/assets/{small.pk}/display/")
    assert _body(shown) == s3.read(small.file.name)  # served as it is, no copy made
    assert not set(rendition_names(small)) & s3.objects()

    scan = Asset.objects.get(pk=ids["scan.tiff"])
    gone = {scan.file.name, *rendition_names(scan)}
    with django_capture_on_commit_callbacks(execute=True):
        assert api("uploader").delete(f"/api/assets/{scan.pk}/").status_code == 200
    assert not gone & s3.objects()
    assert Asset.objects.get(pk=ids["big.png"]).file.name in s3.objects()


def test_heatmaps_are_in_the_bucket_and_go_with_their_version_or_asset(
    s3, site, users, api, django_capture_on_commit_callbacks
):
    def scored_version(number: int, assets: list[Asset]) -> DetectorVersion:
        version = DetectorVersion.objects.create(
            site=site, number=number, kind="deep_knn", status=JobStatus.SUCCEEDED, threshold=0.5
        )
        heat = np.zeros((64, 64), np.float32)
        heat[10:20, 30:40] = 0.9
        record_scores(
            version=version,
            assets=assets,
            scores=[0.9] * len(assets),
            heatmaps=[heat] * len(assets),
        )
        return version

    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(2))
    first, second = scored_version(1, assets), scored_version(2, assets)
    heatmaps = {
        version: set(Score.objects.filter(version=version).values_list("heatmap", flat=True))
        for version in (first, second)
    }
    assert heatmaps[first] | heatmaps[second] <= s3.objects()
    [flag, *_] = api("reviewer").get("/api/sites/park/flags/").json()["results"]
    overlay = api("viewer").get(flag["heatmap_url"])
    assert overlay.status_code == 200 and overlay["Content-Type"] == "image/png"

    with django_capture_on_commit_callbacks(execute=True):
        assert api("admin").delete(f"/api/versions/{first.pk}/").status_code == 200
    assert not heatmaps[first] & s3.objects() and heatmaps[second] <= s3.objects()
    with django_capture_on_commit_callbacks(execute=True):
        assert api("uploader").delete(f"/api/assets/{assets[0].pk}/").status_code == 200
    left = {assets[1].file.name, *Score.objects.values_list("heatmap", flat=True)}
    assert s3.objects() == left


def test_a_video_is_extracted_from_the_bucket_and_its_preview_seeks(
    s3, api, run_tasks, django_capture_on_commit_callbacks
):
    with run_tasks():  # extraction runs here as in a worker: the video is only in the bucket
        body = _upload(api("uploader"), [("walk.mp4", clip_bytes(20))], purpose="score")
    video = Asset.objects.get(pk=body["assets"][0]["id"])
    video.video.refresh_from_db()
    assert video.video.status == JobStatus.SUCCEEDED, video.video.error
    frames = list(Asset.objects.filter(source_video=video).order_by("frame_index"))
    assert [f.frame_index for f in frames] == list(range(0, 20, 2))
    files = {video.file.name, video.video.preview.name, *(f.file.name for f in frames)}
    assert files == s3.objects()
    preview = s3.read(video.video.preview.name)
    ranged = api("viewer").get(f"/api/assets/{video.pk}/preview/", HTTP_RANGE="bytes=10-99")
    assert ranged.status_code == 206 and ranged.content == preview[10:100]
    assert ranged["Content-Range"] == f"bytes 10-99/{len(preview)}"
    thumb = api("viewer").get(f"/api/assets/{frames[3].pk}/thumbnail/")
    assert _body(thumb) == s3.read(frames[3].file.name)

    with django_capture_on_commit_callbacks(execute=True):
        assert api("uploader").delete(f"/api/uploads/{body['id']}/").status_code == 200
    assert s3.objects() == set()


def test_storage_out_of_reach_is_a_transient_fault_retried_not_failed(s3, settings, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would only wait
    settings.STORAGES = {**settings.STORAGES, "default": product_settings.s3_media_storage()}
    with pytest.raises(Exception) as caught:
        default_storage.open("sites/park/assets/00/missing.png", "rb").read()
    assert is_transient(caught.value), repr(caught.value)
