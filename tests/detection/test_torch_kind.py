"""The plumbing every torch kind shares: seeded draws, tensor files, devices, maps."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from detection.base import DetectorError
from detection.components.torch_kind import (
    TorchKind,
    checked_batches,
    model_state,
    upsample_map,
)


class Kind(TorchKind):
    kind = "toy"

    def __init__(self, seed: int = 0) -> None:
        self.params = SimpleNamespace(device="cpu", seed=seed)


def test_seeded_draws_repeat_and_leave_the_global_random_state_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with Kind(seed=7).seeded():
        first = torch.rand(3)
    with Kind(seed=7).seeded(deterministic=True):
        second = torch.rand(3)
    with Kind(seed=8).seeded():
        other = torch.rand(3)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    assert torch.equal(torch.rand(3), expected_next)  # as if no seeded block had run


def test_tensors_round_trip_and_a_model_state_loads_strictly(tmp_path: Path) -> None:
    kind = Kind()
    model = nn.Linear(3, 2)
    kind.save_tensors(tmp_path / "model.pt", model_state(model))
    kind.save_tensors(tmp_path / "bank.pt", {"banks": [torch.ones(2, 2)], "n": 3})
    torch.manual_seed(9)
    expected_next = torch.rand(2)
    torch.manual_seed(9)
    again = kind.load_model_state(lambda: nn.Linear(3, 2), tmp_path / "model.pt")
    assert torch.equal(torch.rand(2), expected_next)  # its random init drew nothing of ours
    assert torch.equal(again.weight, model.weight) and not again.training
    assert kind.load_tensors(tmp_path / "bank.pt", required=("banks",))["n"] == 3
    with pytest.raises(DetectorError, match="does not fit its parameters"):
        kind.load_model_state(lambda: nn.Linear(4, 2), tmp_path / "model.pt")
    with pytest.raises(DetectorError, match=r"bank\.pt lacks shape"):
        kind.load_tensors(tmp_path / "bank.pt", required=("shape",))


def test_a_damaged_or_pickled_file_is_a_clear_error(tmp_path: Path) -> None:
    kind = Kind()
    (tmp_path / "junk.pt").write_bytes(b"not a tensor file")
    with pytest.raises(DetectorError, match="toy artefact is not valid"):
        kind.load_tensors(tmp_path / "junk.pt")
    torch.save({"object": SimpleNamespace(a=1)}, tmp_path / "pickled.pt")
    with pytest.raises(DetectorError, match="toy artefact is not valid"):
        kind.load_tensors(tmp_path / "pickled.pt")  # weights_only refuses arbitrary objects
    torch.save(torch.zeros(2), tmp_path / "bare.pt")
    with pytest.raises(DetectorError, match="holds no dict"):
        kind.load_tensors(tmp_path / "bare.pt")


def test_a_model_is_moved_to_the_chosen_device_once() -> None:
    kind = Kind()
    model = nn.Linear(2, 2)
    assert kind.on_device(model) is model
    assert kind.device == torch.device("cpu")
    assert next(model.parameters()).device == kind.device


def test_maps_are_upsampled_to_the_image_and_batches_are_checked() -> None:
    small = np.arange(4, dtype=np.float64).reshape(2, 2)
    big = upsample_map(small, (30, 40, 3))
    assert big.shape == (30, 40) and big.dtype == np.float32
    assert big.min() >= 0 and big.max() <= 3
    images = [np.zeros((4, 4, 3), np.uint8)] * 5
    assert [(start, len(b)) for start, b in checked_batches(images, 2)] == [(0, 2), (2, 2), (4, 1)]
    with pytest.raises(DetectorError):
        list(checked_batches([np.zeros((4, 4), np.float32)], 2))


def test_building_the_backbone_leaves_the_global_random_state_alone() -> None:
    from detection.registry import create_detector

    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    for kind in ("deep_knn", "patch_autoencoder"):
        create_detector(kind, {"device": "cpu"}).extractor  # noqa: B018 - built on access
    assert torch.equal(torch.rand(2), expected)
