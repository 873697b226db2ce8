"""The video kinds on small synthetic clips: fit, score, save, load, params, an event."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detection.base import DetectorError, ParamsError
from detection.registry import available_kinds, create_detector, load_detector
from detection.temporal import TemporalDetector
from tests.videos import scene_frames

#: Tiny settings: 32 px wide frames, a 4-frame cube, a few channels, two epochs.
TINY_AE = {
    "frame_width": 32,
    "cube_length": 4,
    "train_stride": 2,
    "score_stride": 2,
    "width": 4,
    "hidden_channels": 4,
    "epochs": 3,
    "batch_size": 4,
    "region": 8,
    "smooth_frames": 1,
    "motion": "difference",
    "device": "cpu",
}
KINDS = {
    "video_autoencoder": TINY_AE,
    "motion_energy": {"frame_width": 32, "region": 8, "smooth_frames": 1},
}


@pytest.fixture(scope="module")
def normal_clips() -> list[list[np.ndarray]]:
    return [scene_frames(40, seed=1), scene_frames(30, seed=2)]


@pytest.fixture(scope="module")
def fitted(normal_clips: list[list[np.ndarray]]) -> dict[str, TemporalDetector]:
    detectors = {}
    for kind, params in KINDS.items():
        detector = create_detector(kind, params)
        assert isinstance(detector, TemporalDetector)
        detectors[kind] = detector.fit_clips(normal_clips)
    return detectors


def test_both_kinds_are_registered_as_temporal() -> None:
    for kind in KINDS:
        assert kind in available_kinds()
        assert create_detector(kind).temporal
    assert create_detector("video_autoencoder").uses_gpu
    assert not create_detector("motion_energy").uses_gpu


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_score_save_load_round_trip(
    kind: str, fitted: dict[str, TemporalDetector], tmp_path: Path
) -> None:
    detector = fitted[kind]
    clip = scene_frames(23, seed=3)
    result = detector.score_clip(clip)
    assert result.scores.shape == (23,) and np.isfinite(result.scores).all()
    assert result.heatmaps is not None and len(result.heatmaps) == 23
    assert result.heatmaps[0].shape == clip[0].shape[:2]
    # plain score() treats the images as one clip
    assert np.allclose(detector.score(clip).scores, result.scores)
    path = tmp_path / "model.zip"
    detector.save(path)
    loaded = load_detector(path)
    assert type(loaded) is type(detector)
    assert np.allclose(loaded.score(clip).scores, result.scores, atol=1e-5)
    # one frame and a clip shorter than a cube still get one score per frame
    assert loaded.score(clip[:1]).scores.shape == (1,)
    assert loaded.score(clip[:3]).scores.shape == (3,)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_inserted_event_scores_above_the_normal_frames(
    kind: str, fitted: dict[str, TemporalDetector]
) -> None:
    clip = scene_frames(40, seed=4, event=(20, 30))
    scores = fitted[kind].score_clip(clip).scores
    normal = np.r_[scores[:16], scores[34:]]
    assert scores[21:29].min() > normal.max(), (kind, scores.round(3).tolist())


def test_training_is_deterministic(normal_clips: list[list[np.ndarray]]) -> None:
    params = {**TINY_AE, "epochs": 1}
    a = create_detector("video_autoencoder", params).fit_clips(normal_clips)
    b = create_detector("video_autoencoder", params).fit_clips(normal_clips)
    clip = scene_frames(10, seed=5)
    assert np.allclose(a.score_clip(clip).scores, b.score_clip(clip).scores)
    assert a.loss_history == b.loss_history


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("video_autoencoder", {"frame_width": 100}, "multiple of 8"),
        ("video_autoencoder", {"cube_length": 7}, "even"),
        ("video_autoencoder", {"score_stride": 20}, "must not exceed cube_length"),
        (
            "video_autoencoder",
            {"motion_channel": "yes"},
            "motion_channel: Input should be a valid boolean",
        ),
        ("video_autoencoder", {"score_on": "colour"}, "score_on: Input should be"),
        ("video_autoencoder", {"motion": "sound"}, "motion: Input should be"),
        ("video_autoencoder", {"motion_channel": False}, "needs motion_channel"),
        ("video_autoencoder", {"region_quantile": 2}, "region_quantile"),
        ("video_autoencoder", {"device": "tpu"}, "device"),
        ("video_autoencoder", {"epochs": 0}, "epochs"),
        ("video_autoencoder", {"flow_width": 8}, "flow_width"),
        ("video_autoencoder", {"flow_blur": -1}, "flow_blur"),
        ("video_autoencoder", {"frames": 3}, "unknown parameter"),
        ("motion_energy", {"motion": "sound"}, "motion: Input should be"),
        ("motion_energy", {"smooth_frames": 0}, "smooth_frames"),
        ("motion_energy", {"blur_sigma": -1}, "blur_sigma"),
        ("motion_energy", {"power": 0}, "power"),
        ("motion_energy", {"power": True}, "power"),
    ],
)
def test_bad_params_are_refused_clearly(kind: str, params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        create_detector(kind, params)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unfitted_and_empty_input_errors(kind: str) -> None:
    detector = create_detector(kind, KINDS[kind])
    with pytest.raises(DetectorError, match="fitted"):
        detector.score_clip(scene_frames(3))
    with pytest.raises(DetectorError, match="at least one training clip"):
        detector.fit_clips([[]])
    with pytest.raises(DetectorError, match="HxWx3"):
        detector.fit_clips([[np.zeros((4, 4), np.uint8)]])


def test_motion_energy_difference_variant_scores_the_event() -> None:
    detector = create_detector("motion_energy", {**KINDS["motion_energy"], "motion": "difference"})
    detector.fit_clips([scene_frames(30, seed=1)])
    scores = detector.score_clip(scene_frames(40, seed=4, event=(20, 30))).scores
    assert scores[21:29].min() > np.r_[scores[:16], scores[34:]].max()


@pytest.mark.parametrize("flow_width", [0, 48])
def test_autoencoder_with_a_flow_motion_channel(
    normal_clips: list[list[np.ndarray]], flow_width: int
) -> None:
    params = {**TINY_AE, "motion": "flow", "flow_width": flow_width, "epochs": 1}
    detector = create_detector("video_autoencoder", params)
    detector.fit_clips(normal_clips)
    assert detector.score_clip(scene_frames(9, seed=6)).scores.shape == (9,)


def test_the_defaults_are_flow_at_a_finer_width_and_the_plateau_passing_epochs() -> None:
    """Pinned: chosen on synthetic validation and Ped2 (benchmarks/README.md)."""
    params = create_detector("video_autoencoder").params
    assert (params.motion, params.flow_width, params.epochs) == ("flow", 160, 24)
    assert (params.train_stride, params.region, params.smooth_frames) == (2, 16, 9)
    assert create_detector("motion_energy").params.power == 1


def test_motion_energy_kinetic_energy_variant_scores_the_event() -> None:
    detector = create_detector("motion_energy", {**KINDS["motion_energy"], "power": 2})
    detector.fit_clips([scene_frames(30, seed=1)])
    scores = detector.score_clip(scene_frames(40, seed=4, event=(20, 30))).scores
    assert scores[21:29].min() > np.r_[scores[:16], scores[34:]].max()
