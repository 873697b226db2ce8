"""Boxes around what stands out in an anomaly map (:mod:`detection.components.open_regions`)."""

from __future__ import annotations

import numpy as np

from detection.components.open_regions import region_boxes


def bump(shape: tuple[int, int], centre: tuple[float, float], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


def test_separate_blobs_get_one_box_each_scored_by_their_peak() -> None:
    grid = np.full((40, 60), -1.0, np.float32)
    grid[5:15, 10:20] = 2.0  # a strong blob
    grid[25:35, 40:55] = 0.8  # a weaker one, still above the floor
    assert region_boxes(grid) == [
        ((10.0, 5.0, 20.0, 15.0), 2.0),  # highest peak first
        ((40.0, 25.0, 55.0, 35.0), np.float32(0.8)),
    ]


def test_a_blurred_blob_is_boxed_at_its_half_maximum() -> None:
    """Not at its wide foot above the floor, where the blur has spread it."""
    sigma = 6.0
    grid = -1.0 + 5.0 * bump((80, 80), (40, 40), sigma)  # above 0 where the bump > 0.2
    [(box, peak)] = region_boxes(grid)
    # halfway from the blob's edge (about 0) to its peak (4): the bump > 0.6
    half = sigma * np.sqrt(-2 * np.log(0.6))
    assert peak == np.float32(4.0)
    assert abs((box[2] - box[0]) - 2 * half) <= 2 and abs((box[3] - box[1]) - 2 * half) <= 2
    foot = sigma * np.sqrt(-2 * np.log(0.2))
    assert box[2] - box[0] < 2 * foot - 5


def test_two_humps_in_one_blob_get_a_box_each() -> None:
    grid = -1.0 + 5.0 * (bump((60, 100), (30, 35), 6.0) + bump((60, 100), (30, 57), 6.0))
    assert (grid[30, 35:58] > 0).all()  # one blob above the floor
    boxes = [box for box, _ in region_boxes(grid)]
    assert len(boxes) == 2
    left, right = sorted(boxes)
    assert left[2] <= 46 <= right[0]  # split between the humps
    assert left[0] < 35 < left[2] and right[0] < 57 < right[2]


def test_a_map_high_everywhere_boxes_its_peak() -> None:
    grid = np.full((30, 30), 3.0, np.float32)
    grid[10:14, 12:16] = 6.0  # the whole map is one blob; its half maximum is the peak
    assert region_boxes(grid) == [((12.0, 10.0, 16.0, 14.0), 6.0)]


def test_nothing_stands_out_in_a_calm_or_broken_map() -> None:
    assert region_boxes(np.full((20, 20), -2.0, np.float32)) == []
    speck = np.full((20, 20), -2.0, np.float32)
    speck[3, 3] = 5.0  # a single pixel is noise, not an object
    assert region_boxes(speck) == []
    assert region_boxes(np.full((4, 4), np.nan)) == []
    assert region_boxes(np.zeros((0, 0))) == []


def test_a_sharp_peak_on_a_blob_boxes_the_blob_with_that_peak() -> None:
    grid = np.full((20, 20), -1.0, np.float32)
    grid[5:12, 5:12] = 0.5
    grid[8, 8] = 9.0  # its half maximum is one pixel: too small to be a box of its own
    assert region_boxes(grid) == [((5.0, 5.0, 12.0, 12.0), 9.0)]


def test_the_highest_box_always_carries_the_peak_of_the_map() -> None:
    """A speck that tops a blob beside a broad hump: the broad hump keeps its own box, and
    the blob's box carries the speck's peak (the image score depends on it)."""
    grid = np.full((30, 40), -1.0, np.float32)
    grid[5:25, 5:35] = 0.2
    grid[10:20, 25:33] = 6.0  # a broad hump, above the blob's half maximum (4.6)
    grid[15, 10] = 9.0  # a speck, higher
    found = region_boxes(grid)
    assert found[0] == ((5.0, 5.0, 35.0, 25.0), 9.0)
    assert ((25.0, 10.0, 33.0, 20.0), 6.0) in found
    assert max(peak for _, peak in found) == grid.max()
