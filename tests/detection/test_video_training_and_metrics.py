"""Clip-aware fitting and calibration (no neighbour leakage) and the video metrics."""

from __future__ import annotations

import numpy as np
import pytest

from detection.base import DetectorError
from detection.segments import Segment
from detection.training import fit_and_calibrate_clips, split_clips
from detection.video_metrics import (
    events_found,
    false_alarms,
    labels_from_truth,
    true_events,
    video_metrics,
)
from tests.videos import scene_frames

MOTION = {"frame_width": 32, "region": 8, "smooth_frames": 3}


def test_several_clips_are_held_out_whole() -> None:
    fitted, held = split_clips([100, 100, 100, 100, 100], 0.2, seed=0, gap=8)
    assert len(held) == 1 and len(fitted) == 4
    assert all(part.start == 0 and part.stop == 100 for part in fitted + held)
    assert {p.clip for p in fitted}.isdisjoint({p.clip for p in held})
    # never every clip, even with a large share
    fitted, held = split_clips([10, 10], 0.9, seed=1, gap=8)
    assert len(fitted) == 1 and len(held) == 1


def test_one_clip_holds_out_a_block_with_a_gap_on_each_side() -> None:
    for seed in range(20):
        fitted, held = split_clips([200], 0.2, seed=seed, gap=8)
        [block] = held
        assert block.stop - block.start == 40
        for part in fitted:
            # no fitted frame within 8 frames of a held-out frame
            assert part.stop <= block.start - 8 or part.start >= block.stop + 8
    with pytest.raises(DetectorError, match="too short"):
        split_clips([10], 0.5, seed=0, gap=8)


def test_fit_and_calibrate_clips_indexes_the_concatenated_frames() -> None:
    clips = [scene_frames(30, seed=s) for s in (1, 2, 3)]
    event = scene_frames(40, seed=4, event=(20, 30))
    truth = {i: int(20 <= i < 30) for i in range(40)}
    outcome = fit_and_calibrate_clips(
        "motion_energy", MOTION, clips, [event], anomalous_truth=[truth], fps=10.0
    )
    fit, held = set(outcome.fit_indices), set(outcome.holdout_indices)
    assert not fit & held and len(fit | held) == 90
    assert len(held) == 30 and outcome.holdout_scores.shape == (30,)
    # held out = exactly one whole clip of the concatenation
    assert sorted(held) in ([*range(0, 30)], [*range(30, 60)], [*range(60, 90)])
    m = outcome.metrics
    assert m["n_fit_clips"] == 2 and m["n_holdout_clips"] == 1
    assert m["frame_auroc"] > 0.9 and m["n_events"] == 1 and m["event_recall"] == 1.0
    assert outcome.anomaly_scores.shape == (10,)
    assert m["false_alarms_per_hour"] is not None


def test_one_clip_is_split_in_time_without_neighbours() -> None:
    clip = scene_frames(120, seed=1)
    outcome = fit_and_calibrate_clips("motion_energy", MOTION, [clip], seed=3)
    held = outcome.holdout_indices
    assert held == list(range(held[0], held[-1] + 1)) and len(held) == 24
    gap = MOTION["smooth_frames"]
    assert all(abs(i - j) > gap for i in outcome.fit_indices for j in (held[0], held[-1]))


def test_image_kinds_train_on_the_fitted_frames() -> None:
    clips = [scene_frames(20, seed=s) for s in (1, 2)]
    outcome = fit_and_calibrate_clips("histogram_iforest", {}, clips)
    assert outcome.metrics["n_fit"] == 20 and outcome.holdout_scores.shape == (20,)


def test_truth_length_must_match_the_clips() -> None:
    with pytest.raises(DetectorError, match="frame truth for 0 of 1"):
        fit_and_calibrate_clips(
            "motion_energy", MOTION, [scene_frames(20)], [scene_frames(5)], anomalous_truth=[]
        )


def test_events_false_alarms_and_recall_on_hand_made_arrays() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0])
    assert true_events(labels) == [(2, 4), (8, 9)]
    assert true_events([1, 1]) == [(0, 1)] and true_events([]) == []
    flagged = [Segment(3, 3, 3, 1.0), Segment(6, 6, 6, 1.0), Segment(10, 11, 10, 1.0)]
    assert events_found(labels, flagged) == 1
    assert false_alarms(labels, flagged) == 2
    # a segment touching an event is no false alarm even where it also covers normal frames
    assert false_alarms(labels, [Segment(0, 2, 2, 1.0)]) == 0


def test_video_metrics_over_clips() -> None:
    scores_a = np.array([0.1, 0.2, 0.9, 0.8, 0.2, 0.7, 0.1])
    labels_a = np.array([0, 0, 1, 1, 0, 0, 0])
    scores_b = np.array([0.6, 0.3, 0.95])
    labels_b = np.array([-1, 1, 1])  # first frame: truth unknown
    m = video_metrics([(scores_a, labels_a), (scores_b, labels_b)], 0.5, fps=10.0)
    assert m["n_events"] == 2 and m["events_found"] == 2 and m["event_recall"] == 1.0
    assert m["false_alarms"] == 1  # frame 5 of clip a
    assert m["normal_hours"] == pytest.approx(5 / 10 / 3600)
    assert m["false_alarms_per_hour"] == pytest.approx(1 / (5 / 36000))
    # AUROC over the 9 frames with truth: the normal 0.7 outranks the abnormal 0.3
    assert m["n_normal"] == 5 and m["n_anomalous"] == 4
    assert m["frame_auroc"] == pytest.approx(1 - 1 / 20)
    assert video_metrics([(scores_a, labels_a)], 0.5)["false_alarms_per_hour"] is None
    assert labels_from_truth({1: 0, 9: 1}, 3, default=1).tolist() == [1, 0, 1]
