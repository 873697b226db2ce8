"""``python -m detection`` on generated video clips: train, score (segments), evaluate."""

from __future__ import annotations

import json
from pathlib import Path

from tests.detection.test_cli import _cli
from tests.detection.test_video_kinds import TINY_AE
from tests.videos import scene_frames, write_video

EVENT = (20, 30)


def _clips(folder: Path) -> tuple[Path, Path]:
    """Two normal clips in ``folder/normal`` and an event clip with its truth beside it."""
    normal = folder / "normal"
    normal.mkdir()
    for seed in (1, 2, 3):
        write_video(normal / f"walk{seed}.mp4", scene_frames(40, seed=seed))
    test = folder / "test"
    test.mkdir()
    write_video(test / "event.mp4", scene_frames(40, seed=9, event=EVENT))
    rows = [f"{i},{int(EVENT[0] <= i < EVENT[1])}" for i in range(40)]
    (test / "event.truth.csv").write_text("frame_index,label\n" + "\n".join(rows) + "\n")
    write_video(test / "quiet.mp4", scene_frames(20, seed=8))  # no truth: skipped by evaluate
    return normal, test


def test_train_score_evaluate_a_video_kind(tmp_path: Path) -> None:
    normal, test = _clips(tmp_path)
    model = tmp_path / "m.zip"
    params = json.dumps({"frame_width": 32, "region": 8, "smooth_frames": 3})
    trained = _cli(
        "train", "--kind", "motion_energy", "--data", str(normal), "--out", str(model),
        "--params", params, "--max-gap", "2",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["n_fit_clips"] == 2 and summary["n_holdout_clips"] == 1
    assert json.loads((tmp_path / "m.zip.json").read_text())["video"]["max_gap"] == 2

    scored = _cli("score", "--model", str(model), str(test / "event.mp4"), "--json")
    assert scored.returncode == 0, scored.stderr
    [clip] = json.loads(scored.stdout)["clips"]
    assert [f["index"] for f in clip["frames"]] == list(range(40))
    # the event is one segment, the strongest; the threshold (the highest of one held-out
    # clip's 40 frames) may let a blip of the encoder's noise through elsewhere
    segment = max(clip["segments"], key=lambda s: s["peak_score"])
    assert segment["start_frame"] <= EVENT[0] + 2 and segment["end_frame"] >= EVENT[1] - 3
    assert EVENT[0] <= segment["peak_frame"] < EVENT[1]

    text = _cli("score", "--model", str(model), str(test / "event.mp4"))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1] == "frame\ttime_s\tscore\tverdict"
    assert lines[1 + 40 + 1].startswith("# ") and lines[-1].startswith("segment\t")

    evaluated = _cli("evaluate", "--model", str(model), "--data", str(test), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["frame_auroc"] > 0.9 and metrics["event_recall"] == 1.0
    assert metrics["clips_without_truth"] == ["quiet.mp4"]
    assert metrics["n_normal"] == 30 and metrics["n_anomalous"] == 10


def test_train_the_autoencoder_on_clips_with_sampling(tmp_path: Path) -> None:
    normal, test = _clips(tmp_path)
    model = tmp_path / "ae.zip"
    params = json.dumps({**TINY_AE, "epochs": 1})
    trained = _cli(
        "train", "--kind", "video_autoencoder", "--data", str(normal), "--out", str(model),
        "--params", params, "--fps", "5",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["n_fit"] == 40  # two clips of 20 sampled frames
    scored = _cli("score", "--model", str(model), str(test / "event.mp4"), "--json")
    assert scored.returncode == 0, scored.stderr
    [clip] = json.loads(scored.stdout)["clips"]
    assert [f["index"] for f in clip["frames"]] == list(range(0, 40, 2))  # 5 of 10 fps


def test_a_video_kind_without_videos_is_a_clear_error(tmp_path: Path) -> None:
    result = _cli("train", "--kind", "motion_energy", "--data", str(tmp_path), "--out", "x.zip")
    assert result.returncode == 2 and "learns from video" in result.stderr
