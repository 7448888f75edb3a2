#!/usr/bin/env bash
# One-time set-up for a fresh Debian/Ubuntu machine, no display and no GPU needed.
#   - apt packages for headless OpenGL (Mesa EGL surfaceless, OSMesa, Xvfb)
#   - a virtual environment in .venv
#   - torch as the CPU build when no torch is installed (pip would otherwise pull GBs of CUDA wheels)
#   - this project, editable, with its dev extra (which pulls in gl, train, eval, embed and gpu-sim)
# Idempotent: re-running it is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="libgl1-mesa-dri libegl1 libegl-mesa0 libgles2 libosmesa6 xvfb mesa-utils"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
$VPY -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! $VPY -c "import torch" >/dev/null 2>&1; then
  # CPU wheel; on a CUDA machine install the CUDA build of torch first and this step is skipped.
  $VPY -m pip install -q "torch==2.13.0"
fi
$VPY -m pip install -q -e ".[dev]"
echo "setup: ok ($($VPY -c 'import torch; print("torch", torch.__version__)'))"
