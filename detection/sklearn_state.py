"""Saving scikit-learn estimators without pickle, through ``skops``.

Artefacts may be copied between installations, so loading one must not run arbitrary code.
``skops`` refuses unknown types; we trust only scikit-learn's and numpy's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import skops.io as sio

from detection.base import DetectorError

_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.")


def dump_estimator(estimator: Any, path: Path) -> None:
    sio.dump(estimator, path)


def load_estimator(path: Path) -> Any:
    """Load an estimator written by :func:`dump_estimator`, refusing foreign types."""
    untrusted = sio.get_untrusted_types(file=path)
    foreign = [name for name in untrusted if not name.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise DetectorError(f"artefact contains untrusted types: {', '.join(foreign)}")
    return sio.load(path, trusted=untrusted)
