"""Video metrics: frame AUROC/AP, event recall, false alarms per hour."""

from __future__ import annotations

import pytest

from detection.event_metrics import ClipResult, true_events, video_metrics


def test_true_events_are_runs_of_abnormal_frames():
    assert true_events([0, 1, 1, 0, None, 1, 0, 1]) == [(1, 2), (5, 5), (7, 7)]
    assert true_events([0, 0, None]) == []


def test_recall_false_alarms_and_frame_ranking():
    # 10 frames at 1 s each: one true event at 3..5; flagged: 4..5 (found) and 8 (false).
    labels = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    scores = [0.1, 0.1, 0.2, 0.4, 0.9, 0.8, 0.1, 0.1, 0.7, 0.1]
    metrics = video_metrics([ClipResult(scores, labels, 1.0)], 0.5)
    assert metrics["n_events"] == 1 and metrics["events_found"] == 1
    assert metrics["event_recall"] == 1.0
    assert metrics["false_alarms"] == 1
    assert metrics["normal_hours"] == pytest.approx(7 / 3600)
    assert metrics["false_alarms_per_hour"] == pytest.approx(3600 / 7)
    # ranking: 0.4 (abnormal) is below 0.7 (normal): 20 of 21 pairs right
    assert metrics["frame_auroc"] == pytest.approx(20 / 21)
    # min_length 2 drops the one-frame false alarm
    strict = video_metrics([ClipResult(scores, labels, 1.0)], 0.5, min_length=2)
    assert strict["false_alarms"] == 0 and strict["event_recall"] == 1.0


def test_missed_events_unknown_frames_and_empty_cases():
    labels = [None, 1, 1, None, 0, 0]
    missed = video_metrics([ClipResult([0.9, 0.1, 0.1, 0.1, 0.1, 0.1], labels, 0.5)], 0.5)
    assert missed["event_recall"] == 0.0
    assert missed["false_alarms"] == 0  # the flagged frame has no truth: not counted
    assert missed["n_frames_with_truth"] == 4
    nothing = video_metrics([ClipResult([0.1, 0.2], [0, 0], 1.0)], 0.5)
    assert nothing["event_recall"] is None and nothing["frame_auroc"] is None
    assert nothing["false_alarms_per_hour"] == 0.0
    with pytest.raises(ValueError):
        video_metrics([ClipResult([0.1], [0, 1], 1.0)], 0.5)
