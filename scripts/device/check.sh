#!/usr/bin/env bash
# The GPU check of issue 12 in one device run: GPU-marked tests for real, then the benchmarks (1920x1080 and
# 960x540, CUDA events / GL timer queries, medians after warm-up); tables + one JSON into $OUT (<= 8 files).
#
# Device machine (bare: Python 3.12 with torch/Triton/CuPy, no registry; the GL loader and the missing
# Python packages travel as .gl/*.deb and .whl/*.whl, see --prepare), from the repo root:
#
#   through the device tool: run(command="bash scripts/device/check.sh", carry=[".gl", ".whl"], timeout_s=480)
#
# Here, once, before that (downloads with the ordinary clients into git-excluded folders; also checks them):
#
#     bash scripts/device/check.sh --prepare
#
# CPU dry run (tests/scripts/test_device_check.py runs it): every part that can run without CUDA, at tiny
# sizes, same code, same writers:
#
#     OUT=/tmp/gpu_dry bash scripts/device/check.sh --dry-run
#
# Options (everything after the script's own options goes to scripts/device/gpu_check.py, e.g. --parts,
# --sizes, --repeats, --fail-part; see `python scripts/device/gpu_check.py --help`):
#   --total-s S     wall seconds for the whole script (default 450: inside the run's 480 s timeout)
#   --python PY     interpreter (default $PYTHON, else python3 on the device / .venv/bin/python here)
#   --prepare       download .whl/ and .gl/ here (scripts/device/carry.txt), check them, exit
#   --dry-run       no GPU needed (passed on to gpu_check.py)
#
# $OUT (default out/gpu_check) receives: gpu_check.json (the record), gpu_check.md (the tables),
# pytest_gpu.txt (the pytest output), log.txt (this script's log).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
T0=$(date +%s)
TOTAL_S=450
PREPARE=0
PY="${PYTHON:-}"
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --total-s) TOTAL_S="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --prepare) PREPARE=1; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
case "$TOTAL_S" in
  ''|*[!0-9]*) echo "error: --total-s needs a whole number of seconds, got '$TOTAL_S'" >&2; exit 2 ;;
esac
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

# shellcheck source=scripts/device/lib.sh
. "$REPO/scripts/device/lib.sh"
if [ "$PREPARE" = 1 ]; then
  qw_prepare "$PY"
  "$PY" scripts/device/gpu_check.py --check-carry
  exit $?
fi

OUT="${OUT:-out/gpu_check}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: > "$LOG"
say() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$LOG"; }

# -- setup: GL loader debs, carried wheels, headless EGL on the NVIDIA driver ---------------------------------
qw_device_setup "$PY" /tmp/qw_site say
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if qw_on_device; then
  export QW_GL_BACKEND=egl PYOPENGL_PLATFORM=egl   # GLFW's null platform fails there (device README)
  if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
fi
say "python $("$PY" -c 'import sys; print(sys.version.split()[0])'), budget ${TOTAL_S} s"

# -- the check: python gets what is left, less a margin for the writers; timeout sends SIGTERM (recorded) ----
LEFT=$(( TOTAL_S - ($(date +%s) - T0) ))
BUDGET=$(( LEFT - 20 ))
if [ "$BUDGET" -lt 30 ]; then
  say "error: only ${LEFT} s left after the setup"
  exit 3
fi
set +e
timeout -k 5 $(( LEFT - 5 )) "$PY" scripts/device/gpu_check.py --out "$OUT" --budget-s "$BUDGET" ${PASS[@]+"${PASS[@]}"} \
  2>&1 | tee -a "$LOG"
RC=${PIPESTATUS[0]}
set -e
say "gpu_check.py exited with $RC; $(find "$OUT" -maxdepth 1 -type f | wc -l) files in $OUT"
exit "$RC"
