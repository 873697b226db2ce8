"""Greedy k-center coreset subsampling of a patch memory bank (PatchCore, Roth et al. 2022).

A memory bank of every training patch is large and full of near-duplicates; nearest-neighbour
search cost grows with it. Greedy k-center selection keeps the points that best *cover* the
bank (each step adds the point farthest from everything chosen so far), so a 10 % coreset
loses little accuracy. Distances are computed after a random Gaussian projection to a few
dimensions (Johnson-Lindenstrauss), which keeps the O(N * k) loop cheap.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from detection.device import seeded_generator


def greedy_coreset(
    features: torch.Tensor,
    n_select: int,
    *,
    projection_dim: int = 64,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Indices (int64, distinct, in selection order) of ``n_select`` rows of ``features``.

    Deterministic for a given ``seed`` and device. All rows are returned when ``n_select``
    is at least their number.
    """
    n = features.shape[0]
    if n_select >= n:
        return torch.arange(n, device=features.device)
    if n_select < 1:
        raise ValueError("n_select must be at least 1")
    generator = seeded_generator(seed)
    points = features.float()
    if points.shape[1] > projection_dim:
        projection = torch.randn(points.shape[1], projection_dim, generator=generator)
        points = points @ (projection / projection_dim**0.5).to(points.device)
    start = int(torch.randint(n, (1,), generator=generator))
    norms = (points * points).sum(dim=1)
    # Squared distance of every point to its nearest selected point.
    nearest = torch.full((n,), float("inf"), device=points.device)
    chosen = torch.empty(n_select, dtype=torch.long, device=points.device)
    index = torch.tensor(start, device=points.device)
    report_every = max(1, n_select // 20)
    for step in range(n_select):
        chosen[step] = index
        centre = points[index]
        distance = norms - 2 * (points @ centre) + norms[index]
        torch.minimum(nearest, distance, out=nearest)
        nearest[index] = -1.0  # never picked again, even among exact duplicates
        index = torch.argmax(nearest)
        if progress and (step % report_every == 0 or step == n_select - 1):
            progress((step + 1) / n_select)
    return chosen
