"""Device check (issue 12): the GPU-marked tests and the GPU benchmarks in one guarded run, results in OUT.

Started by ``scripts/device/check.sh`` (which sets the bare device machine up first); by hand::

    python scripts/device/gpu_check.py --out OUT [--budget-s 400] [--parts env,int8_rate] [--sizes 1920x1080]
    python scripts/device/gpu_check.py --dry-run --out OUT   # no GPU: every part that can, at tiny sizes
    python scripts/device/gpu_check.py --check-carry         # .whl/ and .gl/ against scripts/device/carry.txt
    python scripts/device/gpu_check.py --list-parts

The parts live in ``scripts/device/gpu_parts.py`` (:data:`gpu_parts.PARTS`, in run order). The runner
guards each one: an exception is recorded (type, message, traceback tail) and the next part runs; an alarm
stops a part at ``min(its cap, the time left)`` (recorded as ``timeout``); a part is not started when less
than its ``min_s`` is left of ``--budget-s`` (recorded as ``skipped``); SIGTERM (the shell's ``timeout``)
ends the current part and skips the rest. ``gpu_check.json`` and ``gpu_check.md`` are rewritten after every
part, so a run killed from outside still returns what it measured. OUT receives at most
:data:`MAX_FILES` files: ``gpu_check.json``, ``gpu_check.md``, ``pytest_gpu.txt`` (and ``log.txt`` from the
shell script).

Exit status: 0 when the run went through (the JSON says which parts failed), 2 on bad arguments or a run
without CUDA and without ``--dry-run``, 3 when ``--check-carry`` finds something missing, 4 when OUT holds
more than :data:`MAX_FILES` files.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_parts  # noqa: E402  (the script's own folder)

REPO = gpu_parts.REPO
MAX_FILES = 8
JSON_NAME, MD_NAME = "gpu_check.json", "gpu_check.md"
DEFAULT_SIZES = ((1920, 1080), (960, 540))
TARGET_SIZE = "1920x1080"

# Targets of issue 12 (H200, 1920x1080) and the anchors for scale (shared/reference/anchors.md, gpu.md §8).
TARGETS = (
    ("whole_pass_ms", "whole QW-Net 4-bit pass incl. interop (ms)", "<=", 1.0),
    ("extractor_ms", "extractor, int4 Triton (ms)", "<=", 0.5),
    ("extractor_of_int8_rate", "extractor MAC/s over the measured int8 rate", ">=", 0.35),
    ("int4_over_fp16", "FP16 whole net over 4-bit whole net (speed-up)", ">=", 1.5),
)
ANCHORS = ("DLSS 0.20 ms (RTX 4080, 1080p output)", "FSR 4 0.35 ms at 1080p",
           "int8 floor of this network: 174 GMAC per 1080p frame = 0.18 ms at 1979 TOPS")


class PartTimeout(BaseException):
    """Raised in the main thread by the alarm (or SIGTERM). A BaseException, so that a part's own
    ``except Exception`` around one measurement does not swallow it."""


def parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> ``(1920, 1080)``.

    Raises:
        argparse.ArgumentTypeError: not two positive integers joined by ``x``.
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if w < 1 or h < 1 or w > 8192 or h > 8192:
        raise argparse.ArgumentTypeError(f"size must be within 1..8192 per axis, got {text!r}")
    return w, h


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"1920x1080,960x540"`` -> ``[(1920, 1080), (960, 540)]`` (at least one)."""
    sizes = [parse_size(s) for s in text.split(",") if s.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or str(REPO / "out" / "gpu_check"),
                    help="results folder (default $OUT, else out/gpu_check)")
    ap.add_argument("--budget-s", type=float, default=400.0, help="wall seconds for all parts (default 400)")
    ap.add_argument("--parts", default="", help="comma-separated subset of the parts (default: all, in order)")
    ap.add_argument("--sizes", type=parse_sizes, default=None,
                    help="benchmark sizes WxH,... (default 1920x1080,960x540; dry run 64x48)")
    ap.add_argument("--exact-size", type=parse_size, default=None,
                    help="size of the rendered frames of the bit-exactness check (default 480x270; dry 64x48)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed calls per measurement (default 10)")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 50)")
    ap.add_argument("--pass-frames", type=int, default=None, help="timed frames per size of the passes (30)")
    ap.add_argument("--scene", default="mixed", help="built-in scene of the rendered frames (default mixed)")
    ap.add_argument("--dry-run", action="store_true", help="no GPU needed: tiny sizes, CUDA-only parts skipped")
    ap.add_argument("--check-carry", action="store_true", help="check .whl/ and .gl/ against carry.txt, exit")
    ap.add_argument("--list-parts", action="store_true", help="print the parts and exit")
    ap.add_argument("--fail-part", default="", help="(testing the guard) make this part raise at its start")
    return ap


class State:
    """What the parts share: options, the clock, the lazily created GL context, results of earlier parts.

    Attributes:
        device: ``"cuda"`` or ``"cpu"``.
        shared: values one part leaves for later ones and for the targets (e.g. ``int8_mac_per_s``).
    """

    def __init__(self, args: argparse.Namespace, device: str):
        dry = args.dry_run
        self.out = str(args.out)
        self.scratch = tempfile.mkdtemp(prefix="qw_gpu_check_")
        self.device = device
        self.dry_run = dry
        self.sizes = list(args.sizes or ([(64, 48)] if dry else DEFAULT_SIZES))
        self.exact_size = args.exact_size or ((64, 48) if dry else (480, 270))
        self.warmup = args.warmup if args.warmup is not None else (1 if dry else 10)
        self.repeats = args.repeats if args.repeats is not None else (3 if dry else 50)
        self.warmup_small, self.repeats_small = (1, 3) if dry else (3, 10)
        self.pass_frames = args.pass_frames if args.pass_frames is not None else (3 if dry else 30)
        self.scene = args.scene
        self.budget_s = float(args.budget_s)
        self.reserve_s = 5.0  # loops inside a part stop when the global budget has less than this left
        self.t0 = time.monotonic()
        self.shared: dict = {}
        self._gl = None

    def time_left(self) -> float:
        """Seconds left of the global budget."""
        return self.budget_s - (time.monotonic() - self.t0)

    def gl(self):
        """The process's GL context (EGL on the NVIDIA driver on the device; auto-selected elsewhere)."""
        if self._gl is None:
            from engine_bridge.gl import create_context

            self._gl = create_context("egl" if self.device == "cuda" else "auto")
        self._gl.make_current()
        return self._gl

    def close(self) -> None:
        if self._gl is not None:
            self._gl.close()
            self._gl = None


def run_parts(parts, state: State, on_update=None, fail_part: str = "") -> list[dict]:
    """Run ``parts`` in order under the guards (module docstring); returns one record per part.

    Args:
        parts: :class:`gpu_parts.Part` objects.
        state: the shared :class:`State`.
        on_update: called with the records so far after every part (the writers).
        fail_part: a part name that raises at its start (to test the guard).

    Each record: ``{"name", "title", "status", "seconds", "result", "error", "traceback"}``; ``status`` is
    ``ok``, ``failed`` (ran, a check did not hold), ``error`` (raised), ``timeout`` or ``skipped``.
    """
    records: list[dict] = []
    terminated = []

    def alarm(signum, frame):
        raise PartTimeout("the part's time cap was reached" if signum == signal.SIGALRM else
                          "terminated by SIGTERM (the outer time limit)")

    old_alarm = signal.signal(signal.SIGALRM, alarm)
    old_term = signal.signal(signal.SIGTERM, alarm)
    try:
        for p in parts:
            rec = {"name": p.name, "title": p.title, "status": "skipped", "seconds": 0.0, "result": None,
                   "error": None, "traceback": None}
            left = state.time_left()
            if terminated:
                rec["error"] = "not started: the run was terminated"
            elif p.needs_cuda and state.device != "cuda":
                rec["error"] = "not started: needs CUDA (none on this machine)"
            elif left < p.min_s:
                rec["error"] = f"not started: {left:.0f} s left of the budget, the part needs {p.min_s:.0f} s"
            else:
                cap = max(1.0, min(p.cap_s, left - 1.0))
                t0 = time.monotonic()
                signal.setitimer(signal.ITIMER_REAL, cap)
                try:
                    if p.name == fail_part:
                        raise RuntimeError(f"--fail-part {p.name}: raised on request")
                    result = p.fn(state)
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    rec["result"] = result
                    rec["status"] = result.get("status", "ok") if isinstance(result, dict) else "ok"
                except PartTimeout as exc:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    rec["status"], rec["error"] = "timeout", f"{exc} (cap {cap:.0f} s)"
                    if "SIGTERM" in str(exc):
                        terminated.append(p.name)
                except Exception as exc:  # noqa: BLE001 - the guard: record and go on
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    rec["status"], rec["error"] = "error", f"{type(exc).__name__}: {exc}"[:1000]
                    rec["traceback"] = traceback.format_exc()[-3000:]
                rec["seconds"] = time.monotonic() - t0
            records.append(rec)
            if on_update is not None:
                on_update(records)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)
    return records


# -- targets and writers -------------------------------------------------------------------------------------

def _result(records: list[dict], name: str) -> dict:
    for r in records:
        if r["name"] == name and isinstance(r.get("result"), dict):
            return r["result"]
    return {}


def _median(cell) -> float | None:
    return cell.get("median") if isinstance(cell, dict) else None


def fp16_best_ms(rows: list[dict], size: str) -> tuple[float | None, str | None]:
    """The fastest FP16 whole-network time at ``size``: over the float FP16 model (eager and CUDA graph)
    and the fake-quant FP16 extractor path (``int4 fakequant``, FP16 on CUDA). Returns ``(ms, path)``."""
    best = (None, None)
    for r in rows:
        if r.get("size") != size or "error" in r:
            continue
        if not r.get("fp16"):
            continue
        for key in ("whole_ms", "whole_graph_ms"):
            ms = _median(r.get(key))
            if ms is not None and (best[0] is None or ms < best[0]):
                best = (ms, r["path"] + (" (CUDA graph)" if key == "whole_graph_ms" else ""))
    return best


def targets(records: list[dict], size: str = TARGET_SIZE) -> list[dict]:
    """The issue's targets against what the records hold at ``size``.

    Returns:
        one ``{"key", "what", "op", "limit", "value", "met", "note"}`` per :data:`TARGETS` entry; ``value``
        and ``met`` are None where the run has no figure.
    """
    nets = _result(records, "networks").get("rows", [])
    int4 = next((r for r in nets if r.get("size") == size and r["path"].startswith("int4 ")
                 and r["path"] != "int4 fakequant" and "error" not in r), None)
    passes = next((r for r in _result(records, "passes").get("rows", []) if r.get("size") == size), {})
    rate = _result(records, "int8_rate").get("mac_per_s")
    values, notes = {}, {}
    values["whole_pass_ms"] = _median(passes.get("qwnet-int4_wall"))
    transfer = passes.get("qwnet-int4", {}).get("transfer")
    notes["whole_pass_ms"] = f"transfer {transfer}" if transfer else ""
    if int4 is not None:
        values["extractor_ms"] = _median(int4.get("extractor_ms"))
        notes["extractor_ms"] = int4.get("backend", "")
        if rate and int4.get("extractor_mac_per_s"):
            values["extractor_of_int8_rate"] = int4["extractor_mac_per_s"] / rate
        fp16_ms, fp16_path = fp16_best_ms(nets, size)
        whole = _median(int4.get("whole_ms"))
        if fp16_ms is not None and whole:
            values["int4_over_fp16"] = fp16_ms / whole
            notes["int4_over_fp16"] = f"against {fp16_path}"
    out = []
    for key, what, op, limit in TARGETS:
        v = values.get(key)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            met = None
        else:
            met = v <= limit if op == "<=" else v >= limit
        out.append({"key": key, "what": what, "op": op, "limit": limit, "value": v, "met": met,
                    "note": notes.get(key, "")})
    return out


def _f(v, fmt: str = "{:.3f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        v = v.get("median")
        if v is None:
            return "-"
    return fmt.format(v)


def to_markdown(doc: dict) -> str:
    """The run as markdown tables (parts, tests, rates, networks, interop, passes, targets)."""
    recs = doc["parts"]
    env = _result(recs, "env")
    gpu = env.get("gpu", {})
    machine = gpu.get("name", "no CUDA device") + (f" (sm_{gpu['capability']}, {gpu['sms']} SMs)" if gpu else "")
    versions = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()
                         if v and k in ("torch", "triton", "cuda-bindings"))
    dry = "yes (no GPU; tiny sizes; no figure here is a GPU figure)" if doc["dry_run"] else "no"
    smi = env.get("nvidia_smi", {})
    lines = ["# GPU check", "", f"- date (UTC): {doc['date']}", f"- command: `{doc['command']}`",
             f"- machine: {machine}; driver {smi.get('driver_version', '-')}; {env.get('cpus', '-')} CPUs; "
             f"python {env.get('python', '-')}; {versions}",
             f"- dry run: {dry}",
             f"- wall: {doc['seconds']:.0f} s of a {doc['budget_s']:.0f} s budget", "",
             "## Parts", "", "| part | status | s | note |", "|---|---|---:|---|"]
    for r in recs:
        note = (r["error"] or "").replace("|", "/").replace("\n", " ")[:160]
        lines.append(f"| {r['name']} | {r['status']} | {r['seconds']:.1f} | {note} |")
    tests = _result(recs, "pytest_gpu")
    if tests:
        lines += ["", "## GPU-marked tests (`pytest -m gpu`)", "",
                  f"Counts: {tests.get('counts')}; return code {tests.get('returncode')}.", "",
                  "| test | outcome | s |", "|---|---|---:|"]
        for t in tests.get("tests", []):
            lines.append(f"| {t['test']} | {t['outcome']} | {t['seconds']:.1f} |")
    exact = _result(recs, "exact_frame")
    if exact:
        lines += ["", f"## Bit-exactness on rendered frames ({exact.get('size')}, {exact.get('backend')}, "
                      f"CUDA graph {exact.get('cuda_graph')})", "", "| input | exact | mismatching elements |",
                  "|---|---|---|"]
        for c in exact.get("checks", []):
            lines.append(f"| {c['input']} | {c['exact']} | {c['mismatching_elements'] or '-'} |")
    rate = _result(recs, "int8_rate")
    if rate:
        m, k, n = rate["shape_mkn"]
        lines += ["", "## Matrix rates (CUDA events, median)", "",
                  "| product | shape | ms | rate | of datasheet |", "|---|---|---:|---:|---:|",
                  f"| int8 `torch._int_mm` (corner exact: {rate['exact_corner']}) | {m}x{k}x{n} | "
                  f"{_f(rate['ms'])} | {rate['tops']:.4g} TOPS | {_f(rate.get('of_datasheet'), '{:.0%}')} |"]
        for name in ("float16", "bfloat16"):
            if name in rate:
                r = rate[name]
                share = r["tflops"] / gpu_parts.DATASHEET_FP16_TFLOPS if doc["device"] == "cuda" else None
                lines.append(f"| {name} matmul | {r['shape']}^3 | {_f(r['ms'])} | {r['tflops']:.4g} TFLOP/s | "
                             f"{_f(share, '{:.0%}')} |")
        lines.append(f"\nThe project's `int8_gemm_peak()` (host clock): "
                     f"{rate.get('project_int8_gemm_peak_mac_per_s', 0) * 2 / 1e12:.4g} TOPS.")
    nets = _result(recs, "networks")
    if nets:
        int8 = rate.get("mac_per_s") if rate else None
        lines += ["", "## QW-Net network only (CUDA events, median ms)", "",
                  f"Extractor {nets['macs_per_pixel_extractor'] / 1e3:.1f} kMAC/px (heads: "
                  f"{nets['macs_per_pixel_with_heads'] / 1e3:.1f}); MAC/s = extractor MACs / extractor time.",
                  "",
                  "| size | path | backend | extractor ms | whole ms | whole, CUDA graph | extractor GMAC/s "
                  "| of int8 rate | note |", "|---|---|---|---:|---:|---:|---:|---:|---|"]
        for r in nets["rows"]:
            rate_px = r.get("extractor_mac_per_s")
            frac = rate_px / int8 if int8 and rate_px else None
            note = (r.get("error") or r.get("whole_graph_error") or "").replace("|", "/")[:120]
            lines.append(f"| {r['size']} | {r['path']} | {r.get('backend', '-')} | {_f(r.get('extractor_ms'))} | "
                         f"{_f(r.get('whole_ms'))} | {_f(r.get('whole_graph_ms'))} | "
                         f"{_f(rate_px and rate_px / 1e9, '{:.0f}')} | {_f(frac, '{:.1%}')} | {note} |")
    inter = _result(recs, "interop")
    if inter:
        lines += ["", "## CUDA-GL interop (colour RGBA16F + motion RG16F in, RGBA16F out)", "",
                  "| size | one map call | frame ms (events) | frame ms (host, synced) | map+unmap ms | "
                  "registrations | map calls / frame | exact | on GPU | note |",
                  "|---|---|---:|---:|---:|---:|---:|---|---|---|"]
        for r in inter["rows"]:
            lines.append(f"| {r['size']} | {r.get('multi_map', '-')} | {_f(r.get('frame_ms'))} | "
                         f"{_f(r.get('frame_host_ms'))} | {_f(r.get('map_unmap_ms'))} | "
                         f"{r.get('registrations', '-')} | {_f(r.get('maps_per_frame'), '{:.1f}')} | "
                         f"{r.get('exact', '-')} | {r.get('on_gpu', '-')} | {(r.get('error') or '')[:120]} |")
    passes = _result(recs, "passes")
    if passes:
        lines += ["", f"## Passes (scene `{passes['scene']}`, median of {passes['frames']} frames)", "",
                  "| size | G-buffer (GL timer) | G-buffer (wall) | TAA (GL timer) | TAA (wall) | QW-Net int4 "
                  "pass (wall) | QW-Net fp32 pass (wall) | int4 transfer | output on GPU |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in passes["rows"]:
            q = r.get("qwnet-int4", {})
            lines.append(f"| {r['size']} | {_f(r.get('render_gl'))} | {_f(r.get('render_wall'))} | "
                         f"{_f(r.get('taa_gl'))} | {_f(r.get('taa_wall'))} | {_f(r.get('qwnet-int4_wall'))} | "
                         f"{_f(r.get('qwnet-fp32_wall'))} | {q.get('transfer', '-')} | "
                         f"{q.get('output_on_gpu', '-')} |")
        for r in passes["rows"]:
            for m in ("qwnet-int4", "qwnet-fp32"):
                if m in r:
                    stages = {**{f"bridge {k}": v for k, v in r[m]["bridge_ms"].items()},
                              **{f"context {k}": v for k, v in r[m]["context_ms"].items()}}
                    parts = ", ".join(f"{k} {v:.3f}" for k, v in stages.items())
                    lines.append(f"\n{r['size']} {m} ({r[m]['precision']}): stage medians ms: {parts}")
                if f"{m}_error" in r:
                    lines.append(f"\n{r['size']} {m}: {r[f'{m}_error']}")
    lines += ["", f"## Targets ({TARGET_SIZE})", "", "| target | measured | limit | met | note |",
              "|---|---:|---:|---|---|"]
    for t in doc["targets"]:
        met = {True: "yes", False: "no", None: "no figure"}[t["met"]]
        lines.append(f"| {t['what']} | {_f(t['value'])} | {t['op']} {t['limit']} | {met} | {t['note']} |")
    lines += ["", "Anchors for scale: " + "; ".join(ANCHORS) + "."]
    return "\n".join(lines) + "\n"


def write_outputs(doc: dict, out: Path) -> None:
    """Write ``gpu_check.json`` and ``gpu_check.md`` into ``out`` (JSON first: it is the record)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_NAME).write_text(json.dumps(doc, indent=1, default=str))
    (out / MD_NAME).write_text(to_markdown(doc))


def make_doc(args, state: State, records: list[dict], command: str) -> dict:
    return {"format": "qwplugin-gpu-check-1", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "command": command, "dry_run": state.dry_run, "device": state.device,
            "budget_s": state.budget_s, "seconds": time.monotonic() - state.t0,
            "options": {"sizes": [f"{w}x{h}" for w, h in state.sizes],
                        "exact_size": "x".join(map(str, state.exact_size)),
                        "warmup": state.warmup, "repeats": state.repeats, "pass_frames": state.pass_frames,
                        "scene": state.scene},
            "parts": records, "targets": targets(records)}


def select_parts(text: str) -> list:
    """The registered parts named in ``text`` (comma-separated; empty: all), in registry order.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    known = {p.name: p for p in gpu_parts.PARTS}
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [p for p in gpu_parts.PARTS if not names or p.name in names]


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.list_parts:
        for p in gpu_parts.PARTS:
            print(f"{p.name:12s} {'CUDA ' if p.needs_cuda else '     '} cap {p.cap_s:4.0f} s  {p.title}")
        return 0
    if args.check_carry:
        status = gpu_parts.check_carry(REPO)
        print(json.dumps(status, indent=1))
        return 0 if status["complete"] else 3
    try:
        parts = select_parts(args.parts)
    except ValueError as exc:
        ap.error(str(exc))
    if args.fail_part and args.fail_part not in {p.name for p in parts}:
        ap.error(f"--fail-part {args.fail_part}: not among the parts to run")
    for name in ("warmup", "repeats", "pass_frames"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "warmup" else 1):
            ap.error(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'warmup' else '>= 1'}, got {v}")
    if not args.budget_s > 0:
        ap.error(f"--budget-s must be positive, got {args.budget_s}")
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.dry_run:
        print("error: no CUDA device here; use --dry-run for the CPU check", file=sys.stderr)
        return 2
    import engine_bridge.gl  # noqa: F401  (chooses PyOpenGL's platform before any part imports OpenGL)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state = State(args, device)
    command = "python scripts/device/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"gpu_check: device {device}, parts {', '.join(p.name for p in parts)}, "
          f"budget {state.budget_s:.0f} s, out {out}", flush=True)

    def update(records):
        r = records[-1]
        print(f"[{time.monotonic() - state.t0:5.0f} s] {r['name']}: {r['status']} ({r['seconds']:.1f} s)"
              + (f" - {r['error']}" if r["error"] else ""), flush=True)
        write_outputs(make_doc(args, state, records, command.strip()), out)

    try:
        records = run_parts(parts, state, update, args.fail_part)
    finally:
        state.close()
    doc = make_doc(args, state, records, command.strip())
    write_outputs(doc, out)
    print(to_markdown(doc))
    files = [p.name for p in out.iterdir()]
    if len(files) > MAX_FILES:
        print(f"error: {out} holds {len(files)} files, more than the {MAX_FILES} that come back",
              file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
