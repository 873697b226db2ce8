"""Frame extraction is a job like training: delivered twice, or killed half-way and run
again, it leaves every kept frame stored exactly once."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.vidfiles import clip_bytes
from webapp.assets import video_services
from webapp.assets.models import Asset, Video
from webapp.assets.services import IncomingFile, create_upload
from webapp.common.jobs import JobStatus

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the service catches it."""


@pytest.fixture
def video(site, users) -> Video:  # type: ignore[no-untyped-def]
    site.video_sample_fps = 0
    site.save()
    result = create_upload(
        site=site,
        user=users["uploader"],
        purpose="train",
        files=[IncomingFile(name="cam.mp4", handle=io.BytesIO(clip_bytes(16)))],
    )
    return result.assets[0].video


def frame_rows(video: Video) -> list[tuple[int, int]]:
    return list(
        Asset.objects.filter(source_video=video.asset)
        .order_by("frame_index")
        .values_list("frame_index", "id")
    )


def test_extraction_delivered_twice_stores_each_frame_once(video):
    video_services.extract_video(video_id=video.pk)
    first = frame_rows(video)
    assert [index for index, _ in first] == list(range(16))
    video_services.extract_video(video_id=video.pk)  # the redelivered task: a no-op
    assert frame_rows(video) == first
    video.refresh_from_db()
    assert video.status == JobStatus.SUCCEEDED and video.preview


def test_killed_extraction_resumes_without_duplicates_or_gaps(video, monkeypatch):
    monkeypatch.setattr(video_services, "FRAME_BATCH", 3)  # saved 3 frames at a time
    real_store = video_services._store_frame
    calls = []

    def dies_after_six(*args, **kwargs):  # type: ignore[no-untyped-def]
        if len(calls) == 7:  # frames 0-5 are saved, frame 6 waits in the batch
            raise Killed
        calls.append(args[1])
        return real_store(*args, **kwargs)

    monkeypatch.setattr(video_services, "_store_frame", dies_after_six)
    with pytest.raises(Killed):
        video_services.extract_video(video_id=video.pk)
    video.refresh_from_db()
    assert video.status == JobStatus.RUNNING  # as a killed worker leaves it
    kept = frame_rows(video)
    assert [index for index, _ in kept] == list(range(6))

    monkeypatch.setattr(video_services, "_store_frame", real_store)
    # held by a worker elsewhere whose heartbeat is still fresh: left alone
    Video.objects.filter(pk=video.pk).update(claimed_by_host="gpu-box-7")
    video_services.extract_video(video_id=video.pk)
    assert len(frame_rows(video)) == 6
    Video.objects.filter(pk=video.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    resumed: list[int] = []
    monkeypatch.setattr(
        video_services,
        "_store_frame",
        lambda *a, **k: (resumed.append(a[1]), real_store(*a, **k))[1],
    )
    video_services.extract_video(video_id=video.pk)
    rows = frame_rows(video)
    assert [index for index, _ in rows] == list(range(16))
    assert rows[:6] == kept  # the frames of the first run are the same rows
    assert resumed == list(range(6, 16))  # it resumed, it did not decode from the start
    video.refresh_from_db()
    assert video.status == JobStatus.SUCCEEDED and video.progress == 1.0


def test_watchdog_resends_a_dead_extraction(video, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(video_services, "_enqueue_extraction", sent.append)
    Video.objects.filter(pk=video.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    assert video_services.requeue_stale_extractions() == 1
    assert sent == [video.pk]
    assert Video.objects.get(pk=video.pk).status == JobStatus.QUEUED
