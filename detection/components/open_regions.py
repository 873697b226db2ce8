"""Boxes around the parts of an anomaly map that stand out: where an unknown object may be.

A closed-set detector rarely fires on an object of a class it was never taught, so its own
candidates seldom *locate* an unknown object. A patch-distance map against the training
photos (known objects and background alike, as ``deep_knn`` computes it) does light up
there. Its connected components become candidate boxes, each scored by its peak.

Two families of levels are cut: fixed ones on the map's calibrated scale (0 = a typical
training photo's peak, 1 = its 95th percentile), which keep separate blobs apart, and ones
relative to the map's own peak, which give the peak a box of its own size when the map is
high everywhere. The boxes nest; a caller keeps what it needs (recall counts any of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Cuts on the calibrated scale, and as shares of the map's own peak.
ABSOLUTE_LEVELS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5)
RELATIVE_LEVELS: tuple[float, ...] = (0.5, 0.7, 0.85)
#: Components smaller than this many pixels are noise, not objects.
MIN_AREA = 4


def region_boxes(
    scaled_map: np.ndarray,
    *,
    absolute_levels: Sequence[float] = ABSOLUTE_LEVELS,
    relative_levels: Sequence[float] = RELATIVE_LEVELS,
    min_area: int = MIN_AREA,
) -> list[tuple[tuple[float, float, float, float], float]]:
    """``((x1, y1, x2, y2), peak)`` of each component of ``scaled_map`` above each level.

    ``scaled_map`` is (H, W) in image pixels on the calibrated scale. Duplicates (the same
    rectangle from two levels) are kept once, with the higher peak listed first.
    """
    import cv2
    from scipy import ndimage

    grid = np.asarray(scaled_map, dtype=np.float32)
    if grid.ndim != 2 or grid.size == 0 or not np.isfinite(grid).all():
        return []
    peak = float(grid.max())
    levels = [*absolute_levels, *(share * peak for share in relative_levels if peak > 0)]
    found: dict[tuple[float, float, float, float], float] = {}
    for level in sorted(set(levels)):
        mask = (grid >= level).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count < 2:
            continue
        # every component's peak in one pass over the map, not one pass per component
        peaks = ndimage.maximum(grid, labels, index=np.arange(1, count))
        for index in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[index])
            if area < min_area:
                continue
            box = (float(x), float(y), float(x + w), float(y + h))
            found[box] = max(found.get(box, -np.inf), float(peaks[index - 1]))
    return sorted(found.items(), key=lambda item: -item[1])
