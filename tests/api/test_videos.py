"""Videos through the REST API: upload and every bad case, extraction, frame labels,
event-segment flags and their review, the score curve, and who may do what."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import normal_images
from tests.images import zip_bytes
from tests.vidfiles import (
    clip_bytes,
    corrupt_bytes,
    truncated_bytes,
    undecodable_avi_bytes,
    zero_frame_bytes,
)
from webapp.assets.models import Asset, MediaType, Video
from webapp.assets.selectors import image_assets
from webapp.common.jobs import JobStatus
from webapp.detectors.models import DetectorVersion
from webapp.review.models import Flag, FlagStatus
from webapp.review.selectors import confirmed_anomalies, normal_training_assets
from webapp.review.services import flag_segments, record_scores

pytestmark = pytest.mark.django_db


def post_upload(client, purpose, named, slug="park"):  # type: ignore[no-untyped-def]
    files = [SimpleUploadedFile(name, data) for name, data in named]
    return client.post(
        f"/api/sites/{slug}/uploads/", {"purpose": purpose, "files": files}, format="multipart"
    )


def errors_by_name(body) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {row["filename"]: row["error"] for row in body["rejected"]}


@pytest.fixture
def extracted(api, run_tasks):  # type: ignore[no-untyped-def]
    """Upload ``(name, bytes, purpose)`` and run the extraction; returns the video asset."""

    def upload(name: str, data: bytes, purpose: str = "score") -> Asset:
        with run_tasks():
            response = post_upload(api("uploader"), purpose, [(name, data)])
        assert response.status_code == 201, response.json()
        return Asset.objects.get(pk=response.json()["assets"][0]["id"])

    return upload


def test_video_upload_answers_at_once_then_a_worker_extracts_frames(api, site, run_tasks):
    # 20 frames at 10 fps, the site keeps 5 per second: frames 0, 2, 4, ... 18.
    response = post_upload(api("uploader"), "train", [("walkway.mp4", clip_bytes(20))])
    assert response.status_code == 201, response.json()
    (listed,) = response.json()["assets"]
    assert listed["media_type"] == "video" and listed["status"] == "extracting"
    detail = api("viewer").get(f"/api/assets/{listed['id']}/").json()
    assert detail["video"]["status"] == "extracting"
    assert detail["video"]["frame_count"] == 20 and detail["video"]["fps"] == 10.0
    assert detail["video"]["expected_frames"] == 10
    assert (detail["width"], detail["height"]) == (64, 48)

    from webapp.assets import video_services

    with run_tasks():
        video_services.extract_video(video_id=listed["id"])
    detail = api("viewer").get(f"/api/assets/{listed['id']}/").json()
    assert detail["video"]["status"] == "ready", detail["video"]["error"]
    assert detail["video"]["frames_stored"] == 10 and detail["video"]["progress"] == 1.0
    frames = list(Asset.objects.filter(source_video_id=listed["id"]).order_by("frame_index"))
    assert [f.frame_index for f in frames] == list(range(0, 20, 2))
    assert [round(f.timestamp_s, 3) for f in frames[:3]] == [0.0, 0.2, 0.4]
    assert all(f.media_type == MediaType.FRAME and f.purpose == "train" for f in frames)
    # Frames are images to the detectors; the video file itself never is.
    ids = set(image_assets(site).values_list("id", flat=True))
    assert {f.pk for f in frames} <= ids and listed["id"] not in ids
    assert set(normal_training_assets(site).values_list("id", flat=True)) == {f.pk for f in frames}
    # The asset list shows the video, not its frames, unless asked for.
    listing = api("viewer").get("/api/sites/park/assets/").json()["results"]
    assert [a["id"] for a in listing] == [listed["id"]]
    frames_listed = api("viewer").get("/api/sites/park/assets/?media_type=frame").json()
    assert frames_listed["count"] == 10
    # The browser preview: WebM, served in byte ranges (Chromium seeks with them).
    preview = api("viewer").get(f"/api/assets/{listed['id']}/preview/")
    assert preview.status_code == 200 and preview["Content-Type"] == "video/webm"
    body = b"".join(preview.streaming_content)
    assert body[:4] == b"\x1a\x45\xdf\xa3"
    part = api("viewer").get(f"/api/assets/{listed['id']}/preview/", HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206 and part.content == body[:100]
    assert part["Content-Range"] == f"bytes 0-99/{len(body)}"


def test_every_bad_video_is_refused_with_its_reason_and_good_files_kept(api):
    good = clip_bytes(10)
    undecodable = undecodable_avi_bytes()
    response = post_upload(
        api("uploader"),
        "train",
        [
            normal_images(1)[0],
            ("good.mp4", good),
            ("corrupt.mp4", good[:32] + corrupt_bytes()),
            ("truncated.mp4", truncated_bytes(good)),
            ("truncated.webm", truncated_bytes(clip_bytes(20, suffix=".webm"))),
            ("empty.mp4", zero_frame_bytes()),
            ("notes.mp4", b"frame_index,label\n0,1\n" * 50),
            ("random.mkv", corrupt_bytes()),
            ("alien.avi", undecodable),
        ],
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert sorted(a["filename"] for a in body["assets"]) == ["good.mp4", "green-000.png"]
    errors = errors_by_name(body)
    assert "corrupt, truncated or has no frames" in errors["corrupt.mp4"]
    assert "corrupt, truncated or has no frames" in errors["truncated.mp4"]
    assert "only 9 of the 20 frames" in errors["truncated.webm"]
    assert errors["empty.mp4"] in ("empty file",) or "no frames" in errors["empty.mp4"]
    assert errors["notes.mp4"] == "not a video (the file is text; was it renamed?)"
    assert "no known video container" in errors["random.mkv"]
    assert "codec 'QQQQ', which cannot be decoded here" in errors["alien.avi"]
    assert len(errors) == 7


def test_video_caps_each_say_which_limit(api, settings):
    clip = clip_bytes(30, fps=10.0)  # 3 s, 64x48
    settings.MAX_VIDEO_DURATION_S = 2.0
    settings.MAX_VIDEO_FRAMES = 25
    settings.MAX_VIDEO_PIXELS = 64 * 48 - 1
    settings.MAX_VIDEO_BYTES = len(clip) - 1
    response = post_upload(api("uploader"), "score", [("long.mp4", clip), normal_images(1)[0]])
    assert response.status_code == 201
    assert "the limit per video is" in errors_by_name(response.json())["long.mp4"]
    settings.MAX_VIDEO_BYTES = 10**9
    response = post_upload(api("uploader"), "score", [("wide.mp4", clip), normal_images(1, 1)[0]])
    assert "3,072 pixels are too large" in errors_by_name(response.json())["wide.mp4"]
    settings.MAX_VIDEO_PIXELS = 10**8
    response = post_upload(api("uploader"), "score", [("many.mp4", clip), normal_images(1, 2)[0]])
    assert "30 frames; the limit is 25" in errors_by_name(response.json())["many.mp4"]
    settings.MAX_VIDEO_FRAMES = 10**6
    response = post_upload(api("uploader"), "score", [("long.mp4", clip), normal_images(1, 3)[0]])
    assert "lasts 3.0 s; the limit is 2.0 s" in errors_by_name(response.json())["long.mp4"]
    assert Asset.objects.filter(media_type=MediaType.IMAGE).count() == 4
    assert not Asset.objects.filter(media_type=MediaType.VIDEO).exists()


def test_video_and_its_truth_inside_a_zip(api, settings):
    settings.MAX_IMAGE_BYTES = 1000  # a zip member that is a video has the video cap
    clip = clip_bytes(12)
    assert len(clip) > 1000
    archive = zip_bytes(
        {"cam/day1.mp4": clip, "cam/day1.truth.csv": b"frame_index,label\n0,0\n5,1\n"}
    )
    response = post_upload(api("uploader"), "score", [("batch.zip", archive)])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [a["filename"] for a in body["assets"]] == ["batch.zip/cam/day1.mp4"]
    assert body["rejected"] == []
    video = Video.objects.get(asset_id=body["assets"][0]["id"])
    assert video.truth == {"0": 0, "5": 1}


def test_frame_labels_csv_json_and_bad(api, extracted):
    video = extracted("clip.mp4", clip_bytes(10))
    url = f"/api/assets/{video.pk}/frame-labels/"
    uploader = api("uploader")
    response = uploader.put(url, "frame_index,label\n0,0\n3,1\n4,1\n", content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert response.json()["labels"] == [[0, 0], [3, 1], [4, 1]]
    response = uploader.put(url, [[1, 0], [2, 1]], format="json")
    assert response.status_code == 200
    assert api("viewer").get(url).json() == {
        "video": video.pk,
        "frame_count": 10,
        "labels": [[1, 0], [2, 1]],
    }
    multipart = uploader.put(
        url,
        {"file": SimpleUploadedFile("t.csv", b"frame_index,label\n9,1\n")},
        format="multipart",
    )
    assert multipart.status_code == 200 and multipart.json()["labels"] == [[9, 1]]
    bad = uploader.put(url, "frame_index,label\n0,maybe\n", content_type="text/csv")
    assert bad.status_code == 400 and "is not two integers" in json.dumps(bad.json())
    beyond = uploader.put(url, {"10": 1}, format="json")
    assert beyond.status_code == 400 and "beyond the end of the video" in json.dumps(beyond.json())
    header = uploader.put(url, "frame,label\n0,1\n", content_type="text/csv")
    assert header.status_code == 400
    assert api("viewer").get(url).json()["labels"] == [[9, 1]]  # unchanged by bad input
    image = Asset.objects.filter(media_type=MediaType.FRAME).first()
    assert uploader.get(f"/api/assets/{image.pk}/frame-labels/").status_code == 404


def test_roles_on_video_endpoints(api, extracted):
    video = extracted("clip.mp4", clip_bytes(10))
    labels = f"/api/assets/{video.pk}/frame-labels/"
    csv = "frame_index,label\n0,1\n"
    response = post_upload(api("viewer"), "train", [("v.mp4", clip_bytes(6, seed=1))])
    assert response.status_code == 403
    assert api("viewer").put(labels, csv, content_type="text/csv").status_code == 403
    assert api("reviewer").put(labels, csv, content_type="text/csv").status_code == 403
    for url in (
        labels,
        f"/api/assets/{video.pk}/frame-scores/",
        f"/api/assets/{video.pk}/preview/",
        f"/api/assets/{video.pk}/",
    ):
        assert api("outsider").get(url).status_code == 404, url
        assert api("viewer").get(url).status_code == 200, url
    assert api("outsider").put(labels, csv, content_type="text/csv").status_code == 404
    settings_url = "/api/sites/park/"
    assert api("reviewer").patch(settings_url, {"video_sample_fps": 0}).status_code == 403
    assert api("outsider").patch(settings_url, {"video_sample_fps": 0}).status_code == 404


def test_sampling_setting_applies_to_new_uploads(api, extracted):
    response = api("admin").patch("/api/sites/park/", {"video_sample_fps": 0}, format="json")
    assert response.status_code == 200 and response.json()["video_sample_fps"] == 0
    every = extracted("every.mp4", clip_bytes(12))
    assert every.frames.count() == 12
    api("admin").patch("/api/sites/park/", {"video_sample_fps": 2.5}, format="json")
    sparse = extracted("sparse.mp4", clip_bytes(12, seed=4))
    assert list(sparse.frames.order_by("frame_index").values_list("frame_index", flat=True)) == [
        0,
        4,
        8,
    ]
    bad = api("admin").patch("/api/sites/park/", {"video_sample_fps": -1}, format="json")
    assert bad.status_code == 400


def _version(site, number: int = 1, threshold: float = 0.5) -> DetectorVersion:  # type: ignore[no-untyped-def]
    return DetectorVersion.objects.create(
        site=site,
        number=number,
        kind="histogram_iforest",
        status=JobStatus.SUCCEEDED,
        threshold=threshold,
    )


def _score_video(version, video, values) -> list[Flag]:  # type: ignore[no-untyped-def]
    frames = list(video.frames.order_by("frame_index"))
    assert len(frames) == len(values)
    record_scores(version=version, assets=frames, scores=values)
    return flag_segments(version=version, video=video)


def test_segment_flags_listed_reviewed_and_fed_back(api, site, extracted):
    api("admin").patch("/api/sites/park/", {"video_sample_fps": 0}, format="json")
    video = extracted("cart.mp4", clip_bytes(12))
    version = _version(site)
    values = [0.1, 0.2, 0.9, 0.8, 0.3, 0.95, 0.7, 0.1, 0.1, 0.1, 0.6, 0.1]
    # min length 2, gap 2: frames 2..6 are one event (the dip at 4 bridged); 10 alone is noise
    (flag,) = _score_video(version, video, values)
    assert (flag.start_frame, flag.end_frame, flag.score.asset.frame_index) == (2, 6, 5)
    assert Flag.objects.count() == 1  # frames get no flags of their own

    listed = api("reviewer").get("/api/sites/park/flags/?status=pending").json()["results"]
    (row,) = listed
    assert row["kind"] == "segment" and row["video"] == video.pk
    assert (row["start_frame"], row["end_frame"], row["peak_frame"]) == (2, 6, 5)
    assert row["score"] == pytest.approx(0.95)
    assert row["start_s"] == pytest.approx(0.2) and row["end_s"] == pytest.approx(0.7)
    assert row["preview_url"] == f"/api/assets/{video.pk}/preview/"
    curve = api("viewer").get(f"/api/assets/{video.pk}/frame-scores/").json()
    assert curve["threshold"] == 0.5 and curve["version"] == version.pk
    assert [f["score"] for f in curve["frames"]] == pytest.approx(values)
    assert curve["segments"][0]["flag"] == row["id"]

    event_frames = set(video.frames.filter(frame_index__range=(2, 6)).values_list("id", flat=True))
    review = api("reviewer").post(f"/api/flags/{row['id']}/review/", {"decision": "confirm"})
    assert review.status_code == 200 and review.json()["status"] == "confirmed"
    assert set(confirmed_anomalies(site).values_list("id", flat=True)) == event_frames
    assert api("reviewer").post(f"/api/flags/{row['id']}/undo/").status_code == 200
    api("reviewer").post(f"/api/flags/{row['id']}/review/", {"decision": "reject"})
    assert not confirmed_anomalies(site).exists()
    # a score video: only the rejected segment's frames become normal training data
    assert set(normal_training_assets(site).values_list("id", flat=True)) == event_frames
    assert api("viewer").get("/api/sites/park/assets/?flag_status=rejected").json()["count"] == 1


def test_rescoring_supersedes_pending_segments_and_keeps_reviewed_ones(site, extracted):
    site.video_sample_fps = 0
    site.save()
    video = extracted("cart.mp4", clip_bytes(12))
    first, second = _version(site, 1), _version(site, 2)
    low = [0.1] * 12
    early = [0.9 if 1 <= i <= 3 else 0.1 for i in range(12)]
    late = [0.9 if 7 <= i <= 9 else 0.1 for i in range(12)]
    (old,) = _score_video(first, video, early)
    both = [max(a, b) for a, b in zip(early, late, strict=True)]
    flags = _score_video(second, video, both)
    old.refresh_from_db()  # pending by v1: kept, superseded by v2's score of its peak frame
    assert old.status == FlagStatus.SUPERSEDED
    assert old.superseded_by.version == second
    assert old.superseded_by.asset_id == old.score.asset_id
    assert [(f.start_frame, f.end_frame, f.score.version_id) for f in flags] == [
        (1, 3, second.pk),
        (7, 9, second.pk),
    ]
    Flag.objects.filter(pk=flags[0].pk).update(status=FlagStatus.REJECTED)
    again = _score_video(first, video, both)  # a rescore: the reviewed segment stands
    assert [(f.start_frame, f.end_frame) for f in again] == [(7, 9)]
    assert Flag.objects.get(pk=flags[0].pk).status == FlagStatus.REJECTED
    assert _score_video(second, video, low) == []  # nothing above threshold: none opened
    assert not Flag.objects.filter(status=FlagStatus.PENDING).exists()
    assert sorted(Flag.objects.values_list("status", flat=True)) == [
        FlagStatus.REJECTED,
        FlagStatus.SUPERSEDED,
        FlagStatus.SUPERSEDED,
        FlagStatus.SUPERSEDED,
    ]
