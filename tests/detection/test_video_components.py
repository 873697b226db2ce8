"""ConvLSTM cell shapes and state; cube assembly and covering; region statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detection.base import DetectorError
from detection.components.conv_lstm import ConvLSTM, ConvLSTMCell
from detection.components.frame_cubes import (
    RegionNormaliser,
    cover_frames,
    cube_starts,
    fine_flow_speed,
    flow_speed,
    frame_shape,
    grey_frames,
    make_cubes,
    motion_maps,
    region_means,
    smooth_in_time,
)


def test_conv_lstm_cell_keeps_spatial_size_and_carries_state() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 5)
    x = torch.randn(2, 3, 6, 7)
    h, c = cell(x)
    assert h.shape == c.shape == (2, 5, 6, 7)
    assert (h.abs() <= 1).all()  # o * tanh(c)
    h2, c2 = cell(x, (h, c))
    assert h2.shape == (2, 5, 6, 7)
    assert not torch.allclose(c2, c)  # the state feeds back
    # a zero state is the same as no state
    zeros = cell.initial_state(x)
    assert torch.allclose(cell(x, zeros)[0], h)


def test_conv_lstm_cell_rejects_wrong_input() -> None:
    cell = ConvLSTMCell(3, 4)
    with pytest.raises(ValueError, match="expected input"):
        cell(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(3, 4, kernel_size=2)


def test_conv_lstm_layer_runs_over_time_and_gradients_flow() -> None:
    layer = ConvLSTM(4, 6)
    sequence = torch.randn(2, 4, 5, 3, 3, requires_grad=True)
    outputs, (h, c) = layer(sequence)
    assert outputs.shape == (2, 6, 5, 3, 3)
    assert torch.equal(outputs[:, :, -1], h) and c.shape == h.shape
    outputs.sum().backward()
    assert sequence.grad is not None and sequence.grad[:, :, 0].abs().sum() > 0


def test_cube_starts_cover_every_frame_and_end_on_the_last() -> None:
    assert cube_starts(20, 8, 4) == [0, 4, 8, 12]
    assert cube_starts(21, 8, 4) == [0, 4, 8, 12, 13]
    assert cube_starts(5, 8, 4) == [0]  # shorter than a cube: one padded cube
    assert cube_starts(0, 8, 4) == []
    with pytest.raises(DetectorError):
        cube_starts(10, 0, 1)


def test_make_cubes_orders_axes_and_pads_short_clips() -> None:
    frames = np.arange(5, dtype=np.float32)[:, None, None, None] * np.ones((5, 2, 3, 4))
    cubes = make_cubes(frames, [0, 1], 4)
    assert cubes.shape == (2, 2, 4, 3, 4)  # (K, C, T, H, W)
    assert cubes[1, 0, :, 0, 0].tolist() == [1, 2, 3, 4]
    padded = make_cubes(frames[:2], [0], 4)
    assert padded[0, 0, :, 0, 0].tolist() == [0, 1, 1, 1]  # last frame repeated


def test_cover_frames_averages_the_cubes_that_cover_each_frame() -> None:
    starts = cube_starts(6, 4, 2)  # [0, 2]
    values = np.array([[1, 1, 1, 1], [3, 3, 3, 3]], dtype=np.float32)
    covered = cover_frames(values, starts, 6)
    assert covered.tolist() == [1, 1, 2, 2, 3, 3]
    # per-pixel maps too; padded steps of a short clip are ignored
    maps = np.ones((1, 4, 2, 2), np.float32)
    assert cover_frames(maps, [0], 3).shape == (3, 2, 2)
    with pytest.raises(DetectorError, match="covered by no cube"):
        cover_frames(values[:1], [0], 6)


def test_frame_shape_motion_regions_and_smoothing() -> None:
    assert frame_shape(np.zeros((240, 360, 3), np.uint8), 128) == (88, 128)
    grey = np.zeros((3, 4, 4), np.float32)
    grey[1, 0, 0] = 1.0
    motion = motion_maps(grey)
    assert motion[:, 0, 0].tolist() == [1, 1, 1]  # first frame: difference to the next
    assert motion_maps(grey[:1]).sum() == 0
    maps = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    regions = region_means(maps, 2)
    assert regions.shape == (2, 2, 3)
    assert regions[1, 1, 2] == maps[1, 2:, 4:].mean()
    # regions tile the map exactly: 5 pixels in 2 regions of 2.5, no thin leftover strip
    assert region_means(np.ones((1, 5, 5), np.float32), 2).shape == (1, 2, 2)
    assert smooth_in_time(np.array([0, 0, 3, 0, 0.0]), 3).tolist() == [0, 1, 1, 1, 0]
    normaliser = RegionNormaliser(quantile=1.0, floor_share=0.0).fit(np.ones((4, 2, 3)))
    assert np.allclose(normaliser(np.full((1, 2, 3), 2.0)), 2.0)
    with pytest.raises(DetectorError, match="region grid"):
        normaliser(np.ones((1, 3, 3)))


def test_fine_flow_is_measured_wide_and_reported_in_output_pixels() -> None:
    """A square moving 4 px a frame at 64 px wide moves about 2 px a frame at 32 px."""
    frames = []
    for index in range(4):
        frame = np.full((48, 64, 3), 90, np.uint8)
        frame[16:32, 8 + 4 * index : 24 + 4 * index] = 230
        frames.append(frame)
    fine = fine_flow_speed(frames, (24, 32), 64, 0.0)
    assert fine.shape == (4, 24, 32) and fine.dtype == np.float32
    direct = flow_speed(grey_frames(frames, (48, 64)))
    # the area average of the fine speeds, halved: same mean motion, in output pixels
    assert np.isclose(fine.mean(), direct.mean() / 2, rtol=0.05)
    # flow_width at or below the output width: measured at the output size itself
    same = fine_flow_speed(frames, (24, 32), 0, 0.0)
    assert np.allclose(same, flow_speed(grey_frames(frames, (24, 32))))
