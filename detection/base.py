"""The interface every detector kind shares, and its on-disk artefact format.

A detector learns what *normal* looks like from images of one site and scores new images so
that higher means more abnormal. Thresholds are not part of a detector: they are calibrated
outside it (:mod:`detection.calibration`) and stored beside the artefact by the caller.

Artefact format: a zip file holding ``meta.json`` (kind, params, format version) and whatever
state files the kind writes in :meth:`Detector._dump`. No pickles of untrusted origin are
loaded: scikit-learn state goes through ``skops`` and torch state through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

if TYPE_CHECKING:
    from detection.objects import DetectedBox, LabelledBox

ARTEFACT_FORMAT = 1

#: Called with (fraction done in [0, 1], short message) during long operations.
ProgressCallback = Callable[[float, str], None]


def scaled_progress(
    progress: ProgressCallback | None, start: float, end: float, prefix: str = ""
) -> ProgressCallback:
    """A callback reporting a sub-step's progress as the span [start, end] of ``progress``."""

    def report(fraction: float, message: str) -> None:
        if progress:
            progress(start + (end - start) * fraction, prefix + message)

    return report


class DetectorError(Exception):
    """A detector cannot do what was asked; the message is meant for the end user."""


class ParamsError(DetectorError, ValueError):
    """Invalid detector parameters (unknown name, wrong type, out of range)."""


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    """Scores for a batch of images; higher = more abnormal.

    ``heatmaps`` (one float32 array per image, at that image's resolution, higher = more
    abnormal) is set by kinds that localise anomalies, else ``None``. ``boxes`` (one list
    per image, possibly empty) is set by object kinds: what they detected, in image pixels.
    """

    scores: np.ndarray
    heatmaps: list[np.ndarray] | None = None
    boxes: list[list[DetectedBox]] | None = None


def _error_text(error: Mapping[str, Any]) -> str:
    """One pydantic error as "field: message" (list positions kept, union branch tags not)."""
    loc = error.get("loc") or ()
    path = ".".join([str(loc[0]), *(str(p) for p in loc[1:] if isinstance(p, int))]) if loc else ""
    if error["type"] == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        message = error["msg"]
    if not path or message.startswith(path.split(".")[0] + " "):
        return message
    return f"{path}: {message}"


class Params(BaseModel):
    """Base for each kind's parameters: typed fields, validated by :meth:`from_mapping`.

    Each field carries its range and a plain-language ``description``; :meth:`json_schema`
    exports them (the training form is built from it). JSON lists are accepted for tuple
    fields; everything else must already have the right type (``strict``: no "3" for 3).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _lists_to_tuples(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return data

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Self:
        values = dict(values or {})
        known = set(cls.model_fields)
        unknown = sorted(str(name) for name in set(values) - known)
        if unknown:
            raise ParamsError(
                f"unknown parameter(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(known)) or 'none'}"
            )
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            texts = dict.fromkeys(_error_text(e) for e in exc.errors(include_url=False))
            raise ParamsError("; ".join(texts)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of these parameters (ranges, choices, defaults, descriptions)."""
        return cls.model_json_schema()


def with_message(message: str) -> WrapValidator:
    """Replace whatever a (union) field's validation says by one plain ``message``."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(message) from None

    return WrapValidator(validate)


#: Where the torch kinds may run; ``"cuda:N"`` picks one GPU (see :mod:`detection.device`).
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def check_device_param(device: object) -> None:
    """The ``device`` parameter check every torch kind shares (torch need not be imported)."""
    if device not in DEVICE_CHOICES and not str(device).startswith("cuda:"):
        raise ParamsError('device must be "auto", "cpu" or "cuda"')


def _device(value: str) -> str:
    check_device_param(value)
    return value


Device = Annotated[
    str,
    AfterValidator(_device),
    Field(
        description='Where the computation runs: "auto" uses a graphics card (GPU) when '
        'there is one, "cpu" never does, "cuda" (or "cuda:1" for the second card) insists '
        "on one.",
        json_schema_extra={"examples": ["auto", "cpu", "cuda", "cuda:0"]},
    ),
]
Backbone = Annotated[
    str,
    Field(
        min_length=1,
        description="The pretrained image network the features come from (a torchvision "
        "model name such as mobilenet_v2 or resnet18).",
    ),
    with_message("backbone must be a torchvision model name"),
]
Weights = Annotated[
    str,
    Field(
        min_length=1,
        description="Which pretrained weights that network loads; IMAGENET1K_V1 is the one "
        "installed for mobilenet_v2 on machines without internet.",
    ),
    with_message('weights must be a torchvision weights name such as "IMAGENET1K_V1"'),
]
BackboneLayers = Annotated[
    tuple[Annotated[str, Field(min_length=1)], ...] | None,
    Field(
        min_length=1,
        description="Which inner layers of the network describe the image (torchvision node "
        "names); empty = the usual pair for that network. For experts.",
    ),
    with_message("layers must be a non-empty list of layer names, or null"),
]
Seed = Annotated[
    int,
    Field(
        description="Starting point of the random choices: the same seed gives the same "
        "model from the same images."
    ),
]


def check_images(images: Sequence[np.ndarray]) -> None:
    """Fail early and clearly on input that is not a list of HxWx3 uint8 images."""
    for index, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise DetectorError(f"image {index} is not an HxWx3 array")
        if image.dtype != np.uint8:
            raise DetectorError(f"image {index} has dtype {image.dtype}, expected uint8")


class Detector(ABC):
    """A novelty detector: ``fit`` on normal images, ``score`` new ones.

    Images are ``numpy`` arrays, HxWx3, ``uint8``, BGR channel order (OpenCV's convention;
    :func:`detection.images.decode_image` produces them). Subclasses set ``kind`` and
    ``params_class`` and register with :func:`detection.registry.register`.
    """

    kind: ClassVar[str]
    params_class: ClassVar[type[Params]]
    #: The kind's name and one sentence for people who do not know the method (pages, the
    #: training form): what it compares and what it is good at, in a reviewer's words.
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: Kinds that benefit from a GPU are routed to the ``gpu`` queue by the web app.
    uses_gpu: ClassVar[bool] = False
    #: Kinds that need a class label per training image (open-set classifiers).
    needs_labels: ClassVar[bool] = False
    #: Kinds that score frames in time order (see :mod:`detection.temporal`).
    temporal: ClassVar[bool] = False
    #: Kinds that need labelled boxes per training image (object detectors).
    needs_boxes: ClassVar[bool] = False
    #: Kinds cheap enough to fit k + 1 times, so that every normal image can calibrate the
    #: threshold out of fold (:func:`detection.training.crossfit_scores`).
    crossfit: ClassVar[bool] = False

    def __init__(self, params: Params | Mapping[str, Any] | None = None) -> None:
        if not isinstance(params, Params):
            params = self.params_class.from_mapping(params)
        self.params = params
        self.is_fitted = False

    # -- the interface ---------------------------------------------------------------
    @abstractmethod
    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        """Learn normality from ``images`` (all assumed normal).

        ``labels`` (one class per image) and ``boxes`` (the labelled objects of each image)
        are read by the kinds that set :attr:`needs_labels` / :attr:`needs_boxes`; the
        others accept and ignore them, so callers can pass what a site has.
        """

    @abstractmethod
    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        """Score images; higher = more abnormal."""

    def save(self, path: str | Path) -> None:
        """Write the fitted detector to one zip file at ``path``."""
        if not self.is_fitted:
            raise DetectorError("cannot save a detector that has not been fitted")
        path = Path(path)
        with tempfile.TemporaryDirectory() as tmp:
            state_dir = Path(tmp)
            self._dump(state_dir)
            meta = {"format": ARTEFACT_FORMAT, "kind": self.kind, "params": self.params.to_dict()}
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("meta.json", json.dumps(meta, indent=2))
                for file in sorted(state_dir.rglob("*")):
                    if file.is_file():
                        archive.write(file, f"state/{file.relative_to(state_dir)}")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a detector written by :meth:`save`; the kind must match ``cls``."""
        meta, state = read_artefact(path)
        if meta["kind"] != cls.kind:
            raise DetectorError(f"artefact holds a {meta['kind']!r} detector, not {cls.kind!r}")
        detector = cls(cls.upgrade_params(dict(meta["params"])))
        with tempfile.TemporaryDirectory() as tmp:
            state_dir = Path(tmp)
            for name, data in state.items():
                target = state_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            detector._restore(state_dir)
        detector.is_fitted = True
        return detector

    @classmethod
    def upgrade_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The saved ``params`` of an artefact as this version of the kind reads them.

        A kind whose new parameter changes how it computes overrides this to give
        artefacts saved before it the value that computes as they were fitted.
        """
        return params

    # -- what each kind writes and reads ------------------------------------------------
    @abstractmethod
    def _dump(self, state_dir: Path) -> None:
        """Write the fitted state as files under ``state_dir``."""

    @abstractmethod
    def _restore(self, state_dir: Path) -> None:
        """Read back what :meth:`_dump` wrote."""

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise DetectorError(f"{self.kind} detector must be fitted before scoring")


def read_artefact(path: str | Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return (meta, {relative state path: bytes}) of an artefact, checking its format."""
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("meta.json"))
            state = {}
            for info in archive.infolist():
                name = info.filename
                if not name.startswith("state/") or info.is_dir():
                    continue
                relative = Path(name[len("state/") :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise DetectorError(f"artefact has an unsafe member name {name!r}")
                state[str(relative)] = archive.read(info)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise DetectorError(f"{path} is not a detector artefact: {exc}") from exc
    if meta.get("format") != ARTEFACT_FORMAT:
        raise DetectorError(f"unsupported artefact format {meta.get('format')!r}")
    return meta, state
