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

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import numpy as np
from pydantic import Field, model_validator

from detection.base import (
    Detector,
    DetectorError,
    Params,
    ParamsError,
    ProgressCallback,
    ScoreResult,
    Seed,
    scaled_progress,
    with_message,
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
#: AUROC differences below this are ties, settled by fit time.
TIE = 0.005


CandidateKind = Literal["histogram_iforest", "deep_knn"]
CANDIDATE_KINDS: tuple[str, ...] = get_args(CandidateKind)
_CANDIDATES_MESSAGE = f"candidates must be distinct kinds among {', '.join(CANDIDATE_KINDS)}"


class AutoParams(Params):
    candidates: Annotated[
        tuple[CandidateKind, ...], Field(min_length=1), with_message(_CANDIDATES_MESSAGE)
    ] = Field(
        ("histogram_iforest", "deep_knn"),
        description="Methods to try, cheapest first; the first is always tried, whatever the "
        "time limit.",
    )
    candidate_params: Annotated[
        dict[str, dict[str, Any]],
        with_message("candidate_params must map candidate kinds to parameter objects"),
    ] = Field(
        default_factory=dict,
        description="Settings for each method tried, by method name; a method not named uses "
        "its defaults. For experts.",
    )
    time_budget_s: float = Field(
        900.0,
        gt=0,
        description="Seconds spent comparing methods; the methods not yet tried after that "
        "are skipped.",
    )
    probe_fraction: float = Field(
        0.25,
        ge=0.1,
        le=0.5,
        description="Share of the normal photos kept aside to compare the methods on (0.1 to 0.5).",
    )
    synthetic_per_image: int = Field(
        2,
        ge=1,
        le=10,
        description="Made-up anomalies created from each kept-aside photo, when no real "
        "anomaly has been confirmed yet (1 to 10).",
    )
    seed: Seed = 0

    @model_validator(mode="after")
    def _check_candidates(self) -> Self:
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError(_CANDIDATES_MESSAGE)
        if not all(kind in self.candidates for kind in self.candidate_params):
            raise ValueError("candidate_params must map candidate kinds to parameter objects")
        for kind, params in self.candidate_params.items():
            try:
                create_detector(kind, params)
            except ParamsError as exc:
                raise ValueError(f"candidate_params of {kind}: {exc}") from None
        return self


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
