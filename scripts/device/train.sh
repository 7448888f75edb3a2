#!/usr/bin/env bash
# Render a training set, train QW-Net for a fixed wall time, write weights + curves into $OUT (<= 8 files).
#
# Device machine (bare: Python 3.12 with torch/Triton/CuPy, no registry; GL loader and the few missing
# Python packages travel along as .gl/*.deb and .whl/*.whl, see --prepare), from the repo root:
#
#     bash scripts/device/train.sh                      # fast preset, 450 s for everything (< 8 min)
#
#   through the device tool: run(command="bash scripts/device/train.sh", carry=[".gl", ".whl"], timeout_s=560)
#
# Here, once, before that (downloads with the ordinary clients, into git-excluded folders):
#
#     bash scripts/device/train.sh --prepare
#
# CPU check with a tiny budget (the test does this; llvmpipe EGL renders):
#
#     OUT=/tmp/dev_out bash scripts/device/train.sh --tiny --total-s 150
#
# Steps, each printed with the elapsed time: (1) setup (unpack .gl debs as root, pip-install .whl into
# /tmp/qw_site, pick cuda or cpu and the GL backend); (2) render the dataset with python -m
# engine_bridge.dataset (EGL on the NVIDIA driver; sequences start at random Halton phases); (3) a probe
# run of a few steps measures seconds per step and per evaluation; (4) python -m qwplugin.train.budget fit
# rescales the config's stages to the time left, and the run trains with --time-budget-s as a hard stop;
# (5) export (finished stages, plus the checkpoint of an unfinished one) and plot.
#
# Options:
#   --total-s S        wall seconds for the whole script (default 450); training gets what is left
#   --config FILE      base training config (default configs/qwnet_fast_device.json)
#   --tiny             tiny model, tiny data (CPU checks)
#   --sequences N --val-sequences V --frames F --size WxH --spp S   dataset (defaults per mode, below)
#   --work DIR         scratch folder (default /tmp/qw_device_train); a finished dataset there is reused
#   --python PY        interpreter (default $PYTHON, else .venv/bin/python when present, else python3)
#   --prepare          download .whl/ and .gl/ here for the device machine (scripts/device/carry.txt), then exit
#
# $OUT (default out/device_train) receives: qwnet-fp32.safetensors, qwnet-int4.safetensors (the integer
# program, when QAT was reached; its float QAT state dict stays in the run folder), manifest.json, training_curves.png, eval.csv, train.csv, config.json (the fitted config), log.txt.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
T0=$(date +%s)
TOTAL_S=450
CONFIG=configs/qwnet_fast_device.json
TINY=0
PREPARE=0
WORK=/tmp/qw_device_train
PY="${PYTHON:-}"
SEQ="" VALSEQ="" FRAMES="" SIZE="" SPP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --total-s) TOTAL_S="$2"; shift 2 ;;
    --config) CONFIG="$2"; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --sequences) SEQ="$2"; shift 2 ;;
    --val-sequences) VALSEQ="$2"; shift 2 ;;
    --frames) FRAMES="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --spp) SPP="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --prepare) PREPARE=1; shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

# shellcheck source=scripts/device/lib.sh
. "$REPO/scripts/device/lib.sh"
if [ "$PREPARE" = 1 ]; then
  qw_prepare "$PY"   # the wheels and GL debs of scripts/device/carry.txt
  exit 0
fi

OUT="${OUT:-out/device_train}"
mkdir -p "$OUT" "$WORK"
LOG="$OUT/log.txt"
: > "$LOG"
say() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$LOG"; }
left() { echo $(( TOTAL_S - ($(date +%s) - T0) )); }

# -- 1. setup ------------------------------------------------------------------------------------------
qw_device_setup "$PY" /tmp/qw_site say
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
DEVICE=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
if [ "$DEVICE" = cuda ]; then
  GL_BACKEND=egl
  export PYOPENGL_PLATFORM=egl
  : "${SEQ:=24}" "${VALSEQ:=3}" "${FRAMES:=40}" "${SIZE:=256x192}" "${SPP:=16}"
else
  GL_BACKEND=auto
fi
if [ "$TINY" = 1 ]; then
  : "${SEQ:=3}" "${VALSEQ:=1}" "${FRAMES:=12}" "${SIZE:=64x48}" "${SPP:=4}"
else
  : "${SEQ:=24}" "${VALSEQ:=3}" "${FRAMES:=40}" "${SIZE:=128x96}" "${SPP:=16}"
fi
say "device $DEVICE, GL backend $GL_BACKEND, python $("$PY" -c 'import sys; print(sys.version.split()[0])'), budget ${TOTAL_S} s"

# -- 2. dataset ----------------------------------------------------------------------------------------
DATA="$WORK/data_${SEQ}x${FRAMES}_${SIZE}_${SPP}"
say "rendering $SEQ sequences x $FRAMES frames at $SIZE, ${SPP} spp references into $DATA"
"$PY" -m engine_bridge.dataset --out "$DATA" --sequences "$SEQ" --val-sequences "$VALSEQ" --frames "$FRAMES" \
  --size "$SIZE" --spp "$SPP" --seed 11 --backend "$GL_BACKEND" 2>&1 | tr '\r' '\n' | { grep -v '^dataset: ' || true; } \
  | tee -a "$LOG"
say "dataset ready"

# -- 3. base config and probe --------------------------------------------------------------------------
BASE="$WORK/base.json"
"$PY" - "$CONFIG" "$DATA" "$BASE" "$TINY" "$FRAMES" <<'PYEOF'
import json, sys
src, data, dst, tiny, seq_frames = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
cfg = json.load(open(src))
cfg["data"]["root"] = data
if tiny:  # CPU check: tiny model, small windows
    cfg["model"] = {"preset": "tiny", "kind": "qwnet"}
    cfg["data"].update(crop=32, frames=4, chunks=2, val_sequences=1)
    cfg.update(batch_size=2, threads=1, eval_flip=False)
# the sample must fit the sequences
cfg["data"]["frames"] = min(cfg["data"]["frames"], seq_frames // cfg["data"].get("chunks", 1))
json.dump(cfg, open(dst, "w"), indent=1)
PYEOF
PROBE="$WORK/probe"
rm -rf "$PROBE"
"$PY" - "$BASE" "$WORK/probe.json" <<'PYEOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["name"] = "probe"
cfg["stages"] = [dict(cfg["stages"][0], steps=6, warmup_steps=1)]
cfg.update(eval_every=6, checkpoint_every=1000, checkpoint_minutes=None)
json.dump(cfg, open(sys.argv[2], "w"), indent=1)
PYEOF
say "probe: 6 steps and one evaluation"
P0=$(date +%s)
"$PY" -m qwplugin.train --config "$WORK/probe.json" --out "$PROBE" --device "$DEVICE" --no-progress 2>&1 | tee -a "$LOG" >/dev/null
PROBE_S=$(( $(date +%s) - P0 ))   # start-up (imports, data loading, CUDA init) + 6 steps + 1 evaluation

# -- 4. fitted run -------------------------------------------------------------------------------------
MARGIN=$(( TINY == 1 ? 15 : 25 ))   # export and plot
BUDGET=$(( $(left) - PROBE_S - MARGIN ))
if [ "$BUDGET" -lt 10 ]; then
  say "error: only ${BUDGET} s left for training after rendering and the probe; give --total-s more or render less"
  exit 3
fi
RUN="$WORK/run"
rm -rf "$RUN"
"$PY" -m qwplugin.train.budget fit --config "$BASE" --probe "$PROBE" --budget-s "$BUDGET" --data "$DATA" \
  --name device_run --out "$WORK/fitted.json" | tee -a "$LOG"
say "training for at most ${BUDGET} s"
set +e
timeout $(( $(left) - MARGIN / 2 )) "$PY" -m qwplugin.train --config "$WORK/fitted.json" --out "$RUN" --device "$DEVICE" \
  --time-budget-s "$BUDGET" --no-progress 2>&1 | tee -a "$LOG"
RC=${PIPESTATUS[0]}
set -e
if [ "$RC" != 0 ]; then
  say "training exited with $RC (124: the script's own timeout); exporting what the last checkpoint holds"
fi

# -- 5. export and curves ------------------------------------------------------------------------------
"$PY" -m qwplugin.train.budget export --run "$RUN" --out "$OUT" | tee -a "$LOG"
# The float QAT state dict (qwnet-int4-qat.safetensors, for fine-tuning) would be a 9th file: it stays in the
# run folder on the device; the integer program qwnet-int4.safetensors is what runs.
if [ -f "$OUT/qwnet-int4-qat.safetensors" ]; then
  rm "$OUT/qwnet-int4-qat.safetensors"
  "$PY" - "$OUT/manifest.json" <<'PYEOF'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
data["files"].pop("qwnet-int4-qat.safetensors", None)
json.dump(data, open(path, "w"), indent=2)
PYEOF
fi
"$PY" scripts/plot_training.py "$RUN" --out "$OUT/training_curves.png" | tee -a "$LOG"
cp "$RUN/eval.csv" "$RUN/train.csv" "$OUT/"
cp "$WORK/fitted.json" "$OUT/config.json"
N=$(find "$OUT" -maxdepth 1 -type f | wc -l)
say "done: $N files in $OUT"
if [ "$N" -gt 8 ]; then
  echo "error: $OUT holds $N files, more than the 8 that come back from the device" >&2
  exit 4
fi
