"""``auto``: try the candidate kinds on the site's own images and keep the best one.

Users should not have to know what a colour histogram or a memory bank is. This kind holds
a quarter of the normal images aside (the probe), fits each candidate on the rest, and
scores the probe normals against anomalies: the site's confirmed ones when it has them
(:attr:`known_anomalies`), otherwise synthetic ones made from the probe images
(:mod:`detection.synthetic`). The candidate with the highest AUROC wins (the faster one on
a tie within 0.005); candidates after the time budget is spent are skipped, in the
order given, so put the cheap ones first. The winner is then fitted on every normal image,
and the table it was chosen from is kept (:attr:`choice`) and saved with it.

    detector = AutoDetector({"candidates": ["histogram_iforest", "deep_knn"]})
    detector.fit(normal_images)
    detector.choice["chosen"]        # e.g. "deep_knn", with the compared table

The artefact holds the winner's own artefact and the choice as JSON (no pickles).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from detection.base import (
    Detector,
    DetectorError,
    Params,
    ParamsError,
    ProgressCallback,
    ScoreResult,
    scaled_progress,
)
from detection.metrics import evaluate
from detection.registry import available_kinds, create_detector, load_detector, register
from detection.synthetic import synthetic_anomalies
from detection.training import Subset, crossfit_scores, score_in_chunks

if TYPE_CHECKING:
    from detection.objects import LabelledBox

CHOSEN_FILE = "chosen.zip"
CHOICE_FILE = "choice.json"
#: Kinds ``auto`` may try: one-class image kinds (no labels, boxes or clips needed) cheap
#: enough to cross-fit, so the winner's threshold is calibrated on every normal image.
CANDIDATE_KINDS = ("histogram_iforest", "deep_knn")
#: AUROC differences below this are ties, settled by fit time.
TIE = 0.005


@dataclasses.dataclass(frozen=True)
class AutoParams(Params):
    #: Kinds to try, cheapest first (the first always runs, whatever the budget).
    candidates: tuple[str, ...] = ("histogram_iforest", "deep_knn")
    #: Parameters per candidate kind; a kind not named here uses its defaults.
    candidate_params: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: Seconds of comparison after which the remaining candidates are skipped.
    time_budget_s: float = 900.0
    #: Share of the normal images held aside to compare the candidates on.
    probe_fraction: float = 0.25
    #: Synthetic anomalies made from each probe image (when no anomaly is confirmed).
    synthetic_per_image: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.candidates, list):
            object.__setattr__(self, "candidates", tuple(self.candidates))

    def validate(self) -> None:
        if (
            not isinstance(self.candidates, tuple)
            or not self.candidates
            or len(set(self.candidates)) != len(self.candidates)
            or not all(c in CANDIDATE_KINDS for c in self.candidates)
        ):
            raise ParamsError(
                f"candidates must be distinct kinds among {', '.join(CANDIDATE_KINDS)}"
            )
        if not isinstance(self.candidate_params, dict) or not all(
            k in self.candidates and isinstance(v, dict) for k, v in self.candidate_params.items()
        ):
            raise ParamsError("candidate_params must map candidate kinds to parameter objects")
        for kind, params in self.candidate_params.items():
            try:
                create_detector(kind, params)
            except ParamsError as exc:
                raise ParamsError(f"candidate_params of {kind}: {exc}") from None
        if not isinstance(self.time_budget_s, int | float) or self.time_budget_s <= 0:
            raise ParamsError("time_budget_s must be a positive number of seconds")
        fraction = self.probe_fraction
        if not isinstance(fraction, int | float) or not 0.1 <= fraction <= 0.5:
            raise ParamsError("probe_fraction must be between 0.1 and 0.5")
        per_image = self.synthetic_per_image
        if not isinstance(per_image, int) or not 1 <= per_image <= 10:
            raise ParamsError("synthetic_per_image must be an integer between 1 and 10")
        if not isinstance(self.seed, int):
            raise ParamsError("seed must be an integer")


@register
class AutoDetector(Detector):
    """Chooses a kind for you: tries the candidates on your own images and keeps the best."""

    kind = "auto"
    title = "Automatic (recommended)"
    summary = (
        "Tries the methods that need no labels on your own photos and keeps the one that "
        "tells odd photos from normal ones best. Nothing to set."
    )
    params_class = AutoParams
    params: AutoParams
    uses_gpu = True  # deep_knn, the usual winner, profits from one
    crossfit = True
    #: :func:`detection.training.fit_and_calibrate` hands over the site's confirmed anomalies.
    uses_known_anomalies = True

    def __init__(self, params: Params | Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        self.known_anomalies: Sequence[np.ndarray] = ()
        self.chosen: Detector | None = None
        self.choice: dict[str, Any] = {}

    # -- choosing ---------------------------------------------------------------------
    def choose(self, images: Sequence[np.ndarray], progress: ProgressCallback | None) -> str:
        """Compare the candidates on a probe split; set :attr:`choice`; return the winner."""
        p = self.params
        n = len(images)
        if n < 4:
            raise DetectorError(f"auto needs at least 4 normal images to compare kinds; got {n}")
        order = np.random.default_rng(p.seed).permutation(n)
        n_probe = min(max(2, round(n * p.probe_fraction)), n - 2)
        probe = [images[int(i)] for i in sorted(order[:n_probe])]
        base = Subset(images, sorted(int(i) for i in order[n_probe:]))
        confirmed = list(self.known_anomalies)
        against = confirmed or synthetic_anomalies(probe, p.synthetic_per_image, seed=p.seed)
        truth = np.r_[np.zeros(len(probe)), np.ones(len(against))]
        rows: list[dict[str, Any]] = []
        started = time.perf_counter()
        for number, kind in enumerate(p.candidates):
            row: dict[str, Any] = {"kind": kind, "params": p.candidate_params.get(kind, {})}
            rows.append(row)
            spent = time.perf_counter() - started
            if number and spent > p.time_budget_s:
                row["skipped"] = f"time budget of {p.time_budget_s:g} s spent ({spent:.0f} s)"
                continue
            span = number / len(p.candidates), (number + 1) / len(p.candidates)
            report = scaled_progress(progress, *span, f"trying {kind}: ")
            candidate = create_detector(kind, row["params"])
            fit_started = time.perf_counter()
            candidate.fit(base, progress=report)
            row["fit_s"] = round(time.perf_counter() - fit_started, 2)
            scores = np.r_[
                score_in_chunks(candidate, probe, keep_heatmaps=False)[0],
                score_in_chunks(candidate, against, keep_heatmaps=False)[0],
            ]
            row["auroc"] = evaluate(scores, truth, float(np.inf))["auroc"]
        tried = [r for r in rows if "auroc" in r]
        best = max(r["auroc"] for r in tried)
        winner = min((r for r in tried if r["auroc"] >= best - TIE), key=lambda r: r["fit_s"])
        source = "confirmed anomalies" if confirmed else "synthetic anomalies"
        self.choice = {
            "chosen": winner["kind"],
            "params": winner["params"],
            "compared_on": source,
            "probe_normals": len(probe),
            "probe_anomalies": len(against),
            "table": rows,
            "reason": (
                f"{winner['kind']} told {len(probe)} held-aside normal images from "
                f"{len(against)} {source} best (AUROC {winner['auroc']:.3f}"
                + (
                    f"; {len(tried) - 1} other kind(s) tried"
                    if len(tried) > 1
                    else "; no other kind tried"
                )
                + ")."
            ),
        }
        return str(winner["kind"])

    # -- the interface ----------------------------------------------------------------
    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        kind = self.choose(images, scaled_progress(progress, 0, 0.5, "choosing: "))
        chosen = create_detector(kind, self.choice["params"])
        chosen.fit(images, progress=scaled_progress(progress, 0.5, 1.0, f"{kind}: "))
        self.chosen, self.is_fitted = chosen, True
        return self

    def fit_out_of_fold(
        self,
        images: Sequence[np.ndarray],
        folds: Sequence[Sequence[int]],
        *,
        on_heatmap: Callable[[np.ndarray], np.ndarray] | None = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Choose, then cross-fit the winner (in one pass where it can), fitted on all."""
        kind = self.choose(images, scaled_progress(progress, 0, 0.4, "choosing: "))
        params = self.choice["params"]
        chosen = create_detector(kind, params)
        report = scaled_progress(progress, 0.4, 1.0, f"{kind}: ")
        one_pass = getattr(chosen, "fit_out_of_fold", None)
        done = one_pass(images, folds, on_heatmap=on_heatmap, progress=report) if one_pass else None
        if done is None:
            scores, maps = crossfit_scores(
                kind, params, images, [list(f) for f in folds], keep_heatmaps=bool(on_heatmap)
            )
            chosen.fit(images, progress=report)
            heatmaps = [on_heatmap(h) for h in maps] if maps is not None and on_heatmap else None
            done = scores, heatmaps
        self.chosen, self.is_fitted = chosen, True
        return done

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        return self.chosen.score(images)  # type: ignore[union-attr]

    def _dump(self, state_dir: Path) -> None:
        self.chosen.save(state_dir / CHOSEN_FILE)  # type: ignore[union-attr]
        (state_dir / CHOICE_FILE).write_text(json.dumps(self.choice, indent=2))

    def _restore(self, state_dir: Path) -> None:
        self.chosen = load_detector(state_dir / CHOSEN_FILE)
        if self.chosen.kind not in available_kinds() or self.chosen.kind == self.kind:
            raise DetectorError("auto artefact holds no valid chosen detector")
        self.choice = json.loads((state_dir / CHOICE_FILE).read_text())
