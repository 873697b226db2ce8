#!/usr/bin/env bash
# Create .venv and install the pinned requirements (again only when they change), then
# put the offline ImageNet weights in the torch cache. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating virtual environment in .venv ($($PYTHON --version))"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.requirements-installed
wanted=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "==> installing requirements (the first time takes a few minutes: torch is large)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements/dev.txt
  echo "$wanted" > "$stamp"
fi

# ImageNet weights for the deep detector kinds, installed offline (see README).
.venv/bin/python -m scripts.install_weights
