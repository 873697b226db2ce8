"""Training on video frames: image kinds train on frames unchanged; a video with frame
truth gives the version its video metrics (frame AUROC/AP, event recall, false alarms)."""

from __future__ import annotations

import io
import itertools

import pytest

from tests.vidfiles import clip_bytes
from webapp.assets import video_services
from webapp.assets.services import IncomingFile, create_upload
from webapp.common.jobs import JobStatus
from webapp.detectors import services

pytestmark = pytest.mark.django_db


def upload_video(site, user, purpose, name, data):  # type: ignore[no-untyped-def]
    result = create_upload(
        site=site, user=user, purpose=purpose, files=[IncomingFile(name, io.BytesIO(data))]
    )
    asset = result.assets[0]
    video_services.extract_video(video_id=asset.pk)
    return asset


def test_version_metrics_for_a_video_with_frame_truth(site, users):
    upload_video(site, users["uploader"], "train", "normal.mp4", clip_bytes(60))
    event = upload_video(
        site, users["uploader"], "score", "event.mp4", clip_bytes(60, seed=0, event=(30, 44))
    )
    truth = "frame_index,label\n" + "".join(f"{i},{int(30 <= i < 44)}\n" for i in range(60))
    video_services.set_frame_truth(asset=event, text=truth)
    version = services.request_training(site=site, user=users["admin"], kind="histogram_iforest")
    services.run_training(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    video = version.metrics["video"]
    assert video["n_videos"] == 1 and video["n_frames_with_truth"] == 30  # kept: every other
    assert video["n_events"] == 1 and video["event_recall"] == 1.0
    assert video["frame_auroc"] > 0.95 and video["frame_ap"] > 0.9
    assert video["false_alarms_per_hour"] is not None
    assert len(version.manifest["fit"]) + len(version.manifest["holdout"]) == 30


class _FrameDifference:
    """Stands in for a temporal kind: a frame's score is its change from the previous one,
    so it is only right when the frames come as one clip in time order."""

    temporal = True
    calls: list[int] = []

    def score(self, frames):  # type: ignore[no-untyped-def]
        import numpy as np

        from detection.base import ScoreResult

        images = [frames[i].astype(np.float32) for i in range(len(frames))]
        self.calls.append(len(images))
        # per cent of pixels that changed a lot (drift and noise change them a little)
        diffs = [0.0] + [
            float((np.abs(b - a).max(axis=2) > 60).mean() * 100)
            for a, b in itertools.pairwise(images)
        ]
        return ScoreResult(scores=np.asarray(diffs))


def test_temporal_kinds_score_each_video_as_one_clip_in_time_order(site, users, monkeypatch):  # type: ignore[no-untyped-def]
    from webapp.detectors.models import DetectorVersion
    from webapp.review.models import Flag

    site.video_sample_fps = 0
    site.save()
    a = upload_video(site, users["uploader"], "score", "a.mp4", clip_bytes(30, event=(12, 20)))
    b = upload_video(site, users["uploader"], "score", "b.mp4", clip_bytes(20, seed=3))
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    fake = _FrameDifference()
    monkeypatch.setattr(services, "load_version_detector", lambda v: fake)
    monkeypatch.setattr(
        services,
        "detector_class",
        lambda kind: type("K", (), {"temporal": True, "uses_gpu": False}),
    )
    monkeypatch.setattr(services.settings, "SCORING_CHUNK_SIZE", 7)
    frames = list(a.frames.all()) + list(b.frames.all())
    frames.reverse()  # whatever order they come in, each video is scored in time order
    job = services.request_scoring(site=site, version=version, assets=frames)
    chunks = list(job.chunks.order_by("index"))
    assert sorted(len(c.asset_ids) for c in chunks) == [20, 30]  # one chunk per video
    for chunk in chunks:
        services.score_chunk(chunk_id=chunk.pk)
    assert sorted(fake.calls) == [20, 30]
    (flag,) = Flag.objects.filter(video=a)
    # the square appears at 12 and moves until 19; it vanishes at 20 (a change too)
    assert 12 <= flag.start_frame <= 13 and 19 <= flag.end_frame <= 20, flag
    assert not Flag.objects.filter(video=b).exists()


def test_temporal_kind_trains_on_clips_scores_videos_and_flags_the_event(site, users, run_tasks):
    """motion_energy (a temporal kind that needs no training): clips in, segments out."""
    from webapp.review.models import Flag

    site.video_sample_fps = 0
    site.save()
    upload_video(site, users["uploader"], "train", "a.mp4", clip_bytes(40, seed=0))
    upload_video(site, users["uploader"], "train", "b.mp4", clip_bytes(40, seed=1))
    version = services.request_training(site=site, user=users["admin"], kind="motion_energy")
    with run_tasks():
        services.run_training(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    assert len(version.manifest["fit"]) + len(version.manifest["holdout"]) == 80
    site.refresh_from_db()
    assert site.active_version_id == version.pk
    with run_tasks():
        event = upload_video(
            site, users["uploader"], "score", "cart.mp4", clip_bytes(60, seed=0, event=(25, 40))
        )
    assert event.frames.filter(scores__version=version).count() == 60
    flags = list(Flag.objects.filter(video=event))
    on_event = [f for f in flags if f.start_frame <= 40 and f.end_frame >= 25]
    assert len(on_event) == 1, [(f.start_frame, f.end_frame) for f in flags]
    assert 25 <= on_event[0].score.asset.frame_index <= 40
