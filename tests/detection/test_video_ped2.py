"""The video protocol on real UCSD Ped2 clips (skipped without ../shared/datasets)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.datasets import UCSD_PED2, VideoSplit, ucsd_ped2_split
from detection.training import fit_and_calibrate_clips
from detection.video_io import read_clip, read_frame_truth
from detection.video_metrics import labels_from_truth, video_metrics

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(
        not UCSD_PED2.is_dir(), reason=f"real data set absent: {UCSD_PED2} not found"
    ),
]

#: motion_energy (defaults) on Test007 measured 0.989 frame AUROC in the benchmark
#: (benchmarks/README.md); the floor leaves room for other decoders and OpenCV builds.
FLOOR = 0.95


def test_split_finds_every_clip_with_truth() -> None:
    split = ucsd_ped2_split()
    assert len(split.train) == 11 and len(split.test) == 8
    assert all(VideoSplit.truth_for(p).exists() for p in split.test)


def test_motion_energy_on_one_test_clip_clears_the_measured_floor() -> None:
    """motion_energy (the best kind that trains in seconds), all training clips, Test007.

        Test007 has both classes (45 normal frames, then a bike: 135 abnormal). The floor of
        0.95 is below the 0.989 the benchmark measured on this clip with the same settings. The
    autoencoder is not the kind tested here: it scores higher pooled (0.952 in the benchmark)
    but takes many minutes to train, not seconds.
    """
    split = ucsd_ped2_split()
    train = [read_clip(p) for p in split.train]
    [clip_path] = [p for p in split.test if p.stem == "Test007"]
    clip = read_clip(clip_path)
    truth = read_frame_truth(VideoSplit.truth_for(clip_path).read_text())
    labels = labels_from_truth(truth, len(clip), default=-1)
    outcome = fit_and_calibrate_clips("motion_energy", {}, train, fps=10.0)
    assert outcome.metrics["n_holdout_clips"] >= 1
    scores = outcome.detector.score_clip(clip).scores
    metrics = video_metrics([(np.asarray(scores), labels)], outcome.threshold, fps=10.0)
    assert metrics["n_normal"] == 45 and metrics["n_anomalous"] == 135
    assert metrics["frame_auroc"] >= FLOOR, metrics["frame_auroc"]
    assert metrics["event_recall"] == 1.0
