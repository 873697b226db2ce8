"""Boxes around what stands out in an anomaly map (:mod:`detection.components.open_regions`)."""

from __future__ import annotations

import numpy as np

from detection.components.open_regions import region_boxes


def test_separate_blobs_get_boxes_of_their_own_scored_by_their_peak() -> None:
    grid = np.full((40, 60), -1.0, np.float32)
    grid[5:15, 10:20] = 2.0  # a strong blob
    grid[25:35, 40:55] = 0.8  # a weaker one, still above the 0 and 0.5 cuts
    found = region_boxes(grid)
    assert found[0] == ((10.0, 5.0, 20.0, 15.0), 2.0)  # highest peak first
    assert ((40.0, 25.0, 55.0, 35.0), np.float32(0.8)) in found
    assert len({box for box, _ in found}) == len(found)  # each rectangle once


def test_a_map_high_everywhere_still_boxes_its_peak() -> None:
    grid = np.full((30, 30), 3.0, np.float32)
    grid[10:14, 12:16] = 6.0  # above every fixed cut the whole map is one component
    boxes = [box for box, _ in region_boxes(grid)]
    assert (0.0, 0.0, 30.0, 30.0) in boxes and (12.0, 10.0, 16.0, 14.0) in boxes


def test_nothing_stands_out_in_a_calm_or_broken_map() -> None:
    assert region_boxes(np.full((20, 20), -2.0, np.float32)) == []
    speck = np.full((20, 20), -2.0, np.float32)
    speck[3, 3] = 5.0  # a single pixel is noise, not an object
    assert region_boxes(speck) == []
    assert region_boxes(np.full((4, 4), np.nan)) == []
    assert region_boxes(np.zeros((0, 0))) == []
