"""Training on video frames: image kinds train on frames unchanged; a video with frame
truth gives the version its video metrics (frame AUROC/AP, event recall, false alarms)."""

from __future__ import annotations

import io

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
    assert video["frame_auroc"] > 0.95 and video["frame_average_precision"] > 0.9
    assert video["false_alarms_per_hour"] is not None
    assert len(version.manifest["fit"]) + len(version.manifest["holdout"]) == 30
