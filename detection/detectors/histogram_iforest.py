"""Colour histogram + a novelty estimator: the fast baseline every site starts with.

Each image becomes a colour histogram in HSV; an unsupervised novelty estimator learns the
region of histogram space that normal images occupy. The seed tutorial ("forest or not")
used a 3x3x3 histogram and IsolationForest; measured on the shared data sets, the space the
histograms live in matters more than the estimator (``benchmarks/README.md``). By default a
histogram is therefore embedded so that Euclidean distance is the Hellinger distance between
colour distributions (:func:`detection.features.color_histogram.hellinger_histogram`), with
a coarse 2x2 layout beside the global histogram, and scored by the mean distance to its
``k`` nearest normal histograms. IsolationForest, One-Class SVM, Local Outlier Factor and a
robust Gaussian (EllipticEnvelope, on a PCA projection because a covariance of hundreds of
sparse bins from a few hundred images is singular) remain available, as does the seed's
L2-normalised 8x8x8 histogram (``{"space": "l2", "bins": [8, 8, 8], "grid": 1}``), and
:meth:`HistogramIForestDetector.verdicts` gives the seed's 1 (normal) / -1 (anomaly) answer.
The score is higher for more abnormal images and no threshold is baked in.

Estimators only see colour bins that vary in the training set, so a colour never seen at
the site (a purple flower in an all-green meadow) could look ordinary; the share of an
image's pixels that fall in such never-seen bins is therefore added to the score
(``unseen_colour_weight``; 0 turns it off).

Usage::

    detector = create_detector("histogram_iforest").fit(normal_images)
    scores = detector.score(new_images).scores          # higher = more abnormal
    seed_style = create_detector("histogram_iforest", {"estimator": "isolation_forest"})
    seed_style.fit(normal_images).verdicts(new_images)  # 1 normal, -1 anomaly
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import numpy as np
from pydantic import Field, model_validator
from sklearn.covariance import EllipticEnvelope
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.svm import OneClassSVM

from detection.base import (
    Detector,
    DetectorError,
    Params,
    ProgressCallback,
    ScoreResult,
    check_images,
    with_message,
)
from detection.features.color_histogram import color_histogram, hellinger_histogram
from detection.registry import register
from detection.sklearn_state import dump_estimator, load_estimator

if TYPE_CHECKING:
    from detection.objects import LabelledBox

Estimator = Literal[
    "knn",
    "isolation_forest",
    "one_class_svm",
    "local_outlier_factor",
    "elliptic_envelope",
]
Space = Literal["hellinger", "l2"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)
SPACES: tuple[str, ...] = get_args(Space)


Bins = Annotated[int, Field(ge=2, le=64)]


class HistogramParams(Params):
    bins: Annotated[
        tuple[Bins, Bins, Bins], with_message("bins must be three integers between 2 and 64")
    ] = Field(
        (3, 3, 3),
        description="How finely colours are told apart: the number of steps for hue, "
        "saturation and brightness (three numbers, each 2 to 64). More steps notice subtler "
        "colour changes but need more training images.",
    )
    space: Space = Field(
        "hellinger",
        description='How two colour mixes are compared: "hellinger" compares the shares of '
        'each colour (recommended); "l2" is the original tutorial\'s method.',
    )
    grid: int = Field(
        2,
        ge=1,
        le=8,
        description="Also compare the colours of each part of the image, cut into grid x grid "
        "cells (1 = the whole image only). Finds a small patch of odd colour in one corner.",
    )
    estimator: Estimator = Field(
        "knn",
        description='How "normal" is learnt from the training colour mixes: "knn" (distance '
        "to the most similar normal images, recommended) or one of the classic alternatives.",
    )
    k: int = Field(
        3,
        ge=1,
        description="knn only: how many of the most similar normal images an image is "
        "compared with.",
    )
    n_estimators: int = Field(
        200,
        ge=1,
        le=5000,
        description="isolation_forest only: number of trees; more is steadier and slower.",
    )
    max_samples: Annotated[
        Literal["auto"] | Annotated[int, Field(ge=2)],
        with_message('max_samples must be "auto" or an integer of at least 2'),
    ] = Field(
        "auto",
        description='isolation_forest only: images each tree sees ("auto" = up to 256).',
    )
    nu: float = Field(
        0.05,
        gt=0,
        le=1,
        description="one_class_svm only: the largest share of training images it may treat "
        "as unusual (more than 0, at most 1).",
    )
    n_neighbors: int = Field(
        20,
        ge=1,
        description="local_outlier_factor only: how many neighbouring images are compared.",
    )
    pca_components: int = Field(
        10,
        ge=1,
        description="elliptic_envelope only: how many summary directions of the colour "
        "mixes the model is fitted in.",
    )
    random_state: int = Field(
        0,
        description="Starting point of the random choices: the same number gives the same "
        "model from the same images.",
    )
    max_pixels: int = Field(
        16_384,
        ge=0,
        description="How many pixels of each photo are counted, at most, on an even grid "
        "over the whole photo (0 = every pixel). Enough to tell colour mixes apart, and "
        "counting them costs far less than reading the photo.",
    )
    unseen_colour_weight: float = Field(
        1.0,
        ge=0,
        description="How much colours never seen in any training image add to the score "
        "(0 = ignore them). Keeps a purple flower in an all-green meadow from looking "
        "ordinary.",
    )

    @model_validator(mode="after")
    def _grid_needs_hellinger(self) -> Self:
        if self.space == "l2" and self.grid != 1:
            raise ValueError('grid layouts need space "hellinger"; use grid 1 with "l2"')
        return self


@register
class HistogramIForestDetector(Detector):
    """HSV colour histogram (Hellinger space) + kNN (or IsolationForest, OC-SVM, LOF); fast, CPU."""

    kind = "histogram_iforest"
    title = "Colour mix"
    summary = (
        "Compares each photo's mix of colours with the normal photos. Very fast; good when "
        "what is wrong changes the colours (another kind of scene, a wilting plant)."
    )
    params_class = HistogramParams
    crossfit = True
    params: HistogramParams

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.estimator: Any = None
        self.seen_bins: np.ndarray | None = None  # bool per bin: non-empty in training

    def features(
        self, images: Sequence[np.ndarray], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Histograms one image at a time, so a lazy sequence never sits in memory whole."""
        rows = []
        total = len(images)
        for index in range(total):
            image = images[index]
            check_images([image])
            rows.append(self._histogram(image))
            if progress and (index % 25 == 0 or index == total - 1):
                progress(0.9 * (index + 1) / total, f"histograms {index + 1}/{total}")
        if not rows:
            return np.zeros((0, int(np.prod(self.params.bins))))
        return np.stack(rows).astype(np.float64)  # float32 PCA is not bit-reproducible

    @classmethod
    def upgrade_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Artefacts saved before ``max_pixels`` existed counted every pixel: they still
        do, so a version keeps the scores (and the threshold) it was calibrated with."""
        return {"max_pixels": 0, **params}

    def _histogram(self, image: np.ndarray) -> np.ndarray:
        p = self.params
        if p.space == "l2":
            return color_histogram(image, p.bins, p.max_pixels)
        return hellinger_histogram(image, p.bins, p.grid, p.max_pixels)

    def _global_shares(self, features: np.ndarray) -> np.ndarray:
        """Per image, the share of its pixels in each bin of the global histogram."""
        n_bins = int(np.prod(self.params.bins))
        part = features[:, :n_bins]
        part = part**2 if self.params.space == "hellinger" else part
        totals = part.sum(axis=1, keepdims=True)
        return np.divide(part, totals, out=np.zeros_like(part), where=totals > 0)

    def _make_estimator(self, n_samples: int) -> Any:
        p = self.params
        if p.estimator == "knn":
            if n_samples < p.k:
                raise DetectorError(
                    f"knn with k={p.k} needs at least {p.k} training images; got {n_samples}"
                )
            return NearestNeighbors(n_neighbors=p.k)
        if p.estimator == "isolation_forest":
            return IsolationForest(
                n_estimators=p.n_estimators,
                max_samples=p.max_samples,
                random_state=p.random_state,
                n_jobs=1,
            )
        if p.estimator == "one_class_svm":
            return OneClassSVM(nu=p.nu, gamma="scale")
        if p.estimator == "elliptic_envelope":
            if n_samples <= 2 * p.pca_components:
                raise DetectorError(
                    f"elliptic_envelope with pca_components={p.pca_components} needs more than "
                    f"{2 * p.pca_components} training images; got {n_samples}"
                )
            return make_pipeline(
                PCA(n_components=p.pca_components, random_state=p.random_state),
                EllipticEnvelope(random_state=p.random_state),
            )
        if n_samples <= p.n_neighbors:
            raise DetectorError(
                f"local_outlier_factor with n_neighbors={p.n_neighbors} needs more than "
                f"{p.n_neighbors} training images; got {n_samples}"
            )
        return LocalOutlierFactor(n_neighbors=p.n_neighbors, novelty=True)

    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        if len(images) < 2:
            raise DetectorError(f"{self.kind} needs at least 2 training images; got {len(images)}")
        features = self.features(images, progress)
        estimator = self._make_estimator(len(features))
        estimator.fit(features)
        self.estimator = estimator
        self.seen_bins = self._global_shares(features).max(axis=0) > 0
        self.is_fitted = True
        if progress:
            progress(1.0, "fitted")
        return self

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        if len(images) == 0:
            return ScoreResult(scores=np.zeros(0, dtype=np.float64))
        features = self.features(images)
        if self.params.estimator == "knn":
            scores = self.estimator.kneighbors(features)[0].mean(axis=1).astype(np.float64)
        else:
            scores = -self.estimator.score_samples(features).astype(np.float64)
        if self.params.unseen_colour_weight:
            scores += self.params.unseen_colour_weight * self.unseen_share(features)
        return ScoreResult(scores=scores)

    def unseen_share(self, features: np.ndarray) -> np.ndarray:
        """Per image, the share of pixels in bins that were empty in every training image."""
        assert self.seen_bins is not None
        return self._global_shares(features)[:, ~self.seen_bins].sum(axis=1)

    def verdicts(self, images: Sequence[np.ndarray], threshold: float | None = None) -> np.ndarray:
        """The seed tutorial's answer per image: 1 = normal, -1 = anomaly.

        With a ``threshold`` (the calibrated one), a score above it is -1. Without, the
        estimator's own decision is used, as the tutorial's ``model.predict`` did
        (IsolationForest's contamination offset and the like); kNN has none.
        """
        self._require_fitted()
        if threshold is not None:
            return np.where(self.score(images).scores > threshold, -1, 1)
        if self.params.estimator == "knn":
            raise DetectorError("the knn estimator has no verdict of its own; pass a threshold")
        return self.estimator.predict(self.features(images)).astype(int)

    def _dump(self, state_dir: Path) -> None:
        dump_estimator(self.estimator, state_dir / "estimator.skops")
        np.save(state_dir / "seen_bins.npy", self.seen_bins, allow_pickle=False)

    def _restore(self, state_dir: Path) -> None:
        self.estimator = load_estimator(state_dir / "estimator.skops")
        self.seen_bins = np.load(state_dir / "seen_bins.npy", allow_pickle=False)
