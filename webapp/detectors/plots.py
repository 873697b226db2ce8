"""A version's evaluation plots (score histogram, ROC, precision-recall) as cached PNGs.

Rendering one with matplotlib takes a few hundred milliseconds of CPU, and every visit to
a version page asks for three. A plot depends only on what it is drawn from: the
version's evaluation scores (held-out normals and confirmed anomalies, recorded when the
version is trained) and, for the histogram, its threshold. The cache key holds a digest of
exactly those inputs (and :data:`PLOT_STYLE`), so a cached plot can never be stale: when
the evaluation or the threshold changes, the key changes and the plot is drawn again.
Reviews do not change a trained version's evaluation (they feed the *next* version), so
they leave its plots cached. The digest is the plot's ETag too: a browser that has the
plot gets a 304 without anything being drawn or read from the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

from webapp.detectors import selectors
from webapp.detectors.models import DetectorVersion

#: Change when the plots' look changes, so that plots drawn the old way are not served.
PLOT_STYLE = 1
PLOTS = ("histogram", "roc", "pr")


@dataclasses.dataclass(frozen=True)
class Plot:
    version_id: int
    name: str
    digest: str
    draw: Callable[[], bytes]

    @property
    def key(self) -> str:
        return f"version-plot:{self.version_id}:{self.name}:{self.digest}"

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'

    def png(self) -> bytes:
        """The PNG from the cache, drawn (and kept) when it is not there."""
        png = cache.get(self.key)
        if png is None:
            png = self.draw()
            cache.set(self.key, png, timeout=settings.PLOT_CACHE_SECONDS)
        return png


def plot(version: DetectorVersion, name: str) -> Plot | None:
    """The plot ``name`` of ``version``, or None when it has none (ROC and PR need anomalies)."""
    from detection import report  # matplotlib: only where plots are drawn

    normal, anomalous = selectors.evaluation_scores(version)
    threshold = version.threshold
    draw: Callable[[], bytes]
    if name == "histogram" and normal:
        draw = lambda: report.score_histogram_png(normal, anomalous, threshold)  # noqa: E731
    elif name == "roc" and normal and anomalous:
        draw = lambda: report.roc_png(normal, anomalous)  # noqa: E731
    elif name == "pr" and normal and anomalous:
        draw = lambda: report.precision_recall_png(normal, anomalous)  # noqa: E731
    else:
        return None
    inputs = [PLOT_STYLE, name, normal, anomalous, threshold if name == "histogram" else None]
    digest = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:32]
    return Plot(version_id=version.pk, name=name, digest=digest, draw=draw)
