"""Probing, sampling and decoding videos; frame truth files; event segments."""

from __future__ import annotations

import numpy as np
import pytest

from detection.segments import find_segments
from detection.video_io import (
    VideoError,
    iter_frames,
    probe_video,
    read_frame_truth,
    sampled_indices,
)
from tests.videos import scene_frames, write_video


def test_probe_reports_frames_fps_size_and_codec(tmp_path):
    path = write_video(tmp_path / "clip.mp4", scene_frames(30, size=(64, 48)), fps=10)
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height) == (30, 64, 48)
    assert info.fps == pytest.approx(10)
    assert info.duration_s == pytest.approx(3.0)
    assert info.codec in {"mp4v", "FMP4"}  # FFmpeg names MPEG-4 part 2 either way


def test_webm_probe_counts_frames_when_the_container_does_not(tmp_path):
    path = write_video(tmp_path / "clip.webm", scene_frames(12), fps=6)
    assert probe_video(path).frame_count == 12


@pytest.mark.parametrize(
    ("count", "fps", "target", "expected"),
    [
        (10, 10.0, None, list(range(10))),
        (10, 10.0, 0, list(range(10))),
        (10, 10.0, 25, list(range(10))),  # never above the source rate
        (10, 10.0, 5, [0, 2, 4, 6, 8]),
        (10, 10.0, 3, [0, 4, 7]),  # first frame at or after each tick of 3.33 frames
        (7, 29.97, 2, [0]),
        (0, 10.0, 2, []),
    ],
)
def test_sampling(count, fps, target, expected):
    assert sampled_indices(count, fps, target) == expected


def test_iter_frames_yields_the_sampled_frames_with_timestamps(tmp_path):
    path = write_video(tmp_path / "clip.mp4", scene_frames(20), fps=10)
    frames = list(iter_frames(path, target_fps=2))
    assert [i for i, _, _ in frames] == [0, 5, 10, 15]
    assert [t for _, t, _ in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert frames[0][2].shape == (48, 64, 3) and frames[0][2].dtype == np.uint8
    # resuming from a frame yields exactly the rest (extraction restarts where it stopped)
    assert [i for i, _, _ in iter_frames(path, target_fps=2, start=6)] == [10, 15]


def test_non_video_and_truncated_files_are_refused(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_bytes(b"this is not a video at all" * 20)
    with pytest.raises(VideoError):
        probe_video(fake)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError):
        probe_video(empty)
    good = write_video(tmp_path / "good.mp4", scene_frames(40), fps=10).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good[: len(good) // 3])
    with pytest.raises(VideoError):
        list(iter_frames(cut))


@pytest.mark.parametrize(
    "text",
    [
        "frame_index,label\n0,0\n1,1\n2,1\n",
        '{"0": 0, "1": 1, "2": 1}',
        '[{"frame_index": 0, "label": 0}, {"frame_index": 1, "label": 1}, [2, 1]]',
    ],
)
def test_frame_truth_formats(text):
    assert read_frame_truth(text) == {0: 0, 1: 1, 2: 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("frame,label\n0,1\n", "header"),
        ("frame_index,label\n0,2\n", "use 1"),
        ("frame_index,label\n-1,1\n", "negative"),
        ("frame_index,label\nzero,1\n", "integers"),
        ("frame_index,label\n0,1,3\n", "columns"),
        ("{not json", "JSON"),
    ],
)
def test_frame_truth_errors_say_what_is_wrong(text, message):
    with pytest.raises(VideoError, match=message):
        read_frame_truth(text)


def test_segments_bridge_gaps_and_drop_blips():
    scores = [0, 5, 6, 0, 7, 0, 0, 0, 9, 0, 0, 3, 3, 3, 0]
    assert [(s.start, s.end, s.peak) for s in find_segments(scores, 2)] == [
        (1, 2, 2),
        (4, 4, 4),
        (8, 8, 8),
        (11, 13, 11),
    ]
    merged = find_segments(scores, 2, max_gap=1)
    assert [(s.start, s.end, s.peak, s.peak_score) for s in merged] == [
        (1, 4, 4, 7.0),
        (8, 8, 8, 9.0),
        (11, 13, 11, 3.0),
    ]
    assert [(s.start, s.end) for s in find_segments(scores, 2, max_gap=1, min_length=3)] == [
        (1, 4),
        (11, 13),
    ]
    assert [(s.start, s.end) for s in find_segments(scores, 2, max_gap=2)] == [(1, 4), (8, 13)]
    assert [(s.start, s.end) for s in find_segments(scores, 2, max_gap=3)] == [(1, 13)]
    assert find_segments([1, 1], 5) == []
    with pytest.raises(ValueError):
        find_segments(scores, 2, min_length=0)
