"""The benchmark helpers for video: synthetic events and the derived truth of real clips."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.real_clips import derive_truth, spot_check
from benchmarks.synthetic_video import paste_moving_patch
from tests.videos import scene_frames


def test_a_pasted_patch_moves_fast_and_only_its_frames_are_labelled() -> None:
    frames = scene_frames(60, size=(96, 64))
    out, labels = paste_moving_patch(frames, np.random.default_rng(3))
    assert len(out) == len(frames) and labels.shape == (60,)
    assert 0 < labels.sum() <= 50 and (labels == 0).sum() >= 10
    changed = np.array([not np.array_equal(a, b) for a, b in zip(out, frames, strict=True)])
    # a labelled frame shows the patch, an unlabelled one is untouched
    assert not changed[labels == 0].any()
    assert changed[labels == 1].mean() > 0.8
    # the originals are not modified, and the same seed gives the same event
    again, labels_again = paste_moving_patch(frames, np.random.default_rng(3))
    assert np.array_equal(labels, labels_again)
    assert all(np.array_equal(a, b) for a, b in zip(out, again, strict=True))


def test_a_short_clip_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 20 frames"):
        paste_moving_patch(scene_frames(10), np.random.default_rng(0))


def _room(n: int, person: range) -> list[np.ndarray]:
    """A still grey room; frames in ``person`` show a dark upright block (a person)."""
    frames = []
    for index in range(n):
        frame = np.full((108, 192, 3), 150, np.uint8)
        if index in person:
            x = 20 + 3 * (index - person.start)
            frame[30:90, x : x + 20] = 40
        frames.append(frame)
    return frames


def test_truth_is_a_person_sized_foreground_against_the_empty_room(tmp_path) -> None:
    frames = _room(70, range(45, 60))
    labels, share = derive_truth(frames)
    assert labels.tolist() == [0] * 45 + [1] * 15 + [0] * 10
    assert share[:45].max() == 0 and share[45:60].min() > 0.05
    written = spot_check(frames, labels, tmp_path / "spot")
    # 2 frames before and after each of the two changes of label
    assert [p.name for p in written] == [
        "frame0043_label0.png",
        "frame0047_label1.png",
        "frame0058_label1.png",
        "frame0062_label0.png",
    ]
