"""Benchmark the integer backends: ``python -m qwplugin.intexec.bench --out docs/bench_integer.md``.

Per backend and size: median ms/frame of the feature extractor and of the whole QW-Net (extractor +
filter network), effective integer MAC/s of the extractor, ratio to the FP32 path measured in the same
run, the fraction of this machine's int8 rate (the fastest of three large int8 kernels, same run: see
:func:`int8_rates`) and the load
average when the row was measured, with `uptime` before and after each size. With ``--layers`` also a per-op
table of the CPU backend (ms, share, GMAC/s and fraction of the int8 rate per op; the U-Net convs together; the
float32 filter tail), with ``--startup`` the Context start-up time int4 vs FP32.
Per-size repeats with ``--repeats-at 1920x1080=1``. Default weights: the shipped ``qwnet-fp32`` (the FP32 path) and
``qwnet-int4`` (the integer program, run as :class:`~qwplugin.intexec.network.IntegerQWNet`).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch
from tqdm import tqdm

from qwplugin.cli import command, prog_name
from qwplugin.intexec.reference import quantize_input


ALLOCATOR_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "THP_MEM_ALLOC_ENABLE",
                 "LD_PRELOAD", "OMP_NUM_THREADS")
"""Environment variables that move CPU timings (glibc's allocator, torch's huge pages, a preloaded
allocator, threads); the table header records the ones set."""


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (prepacking, allocation, Triton compilation, CUDA graph capture)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def int8_gemm_peak(m: int | None = None, k: int | None = None, n: int | None = None, repeats: int = 5) -> float:
    """Measured int8 x int8 -> int32 GEMM rate of one large ``torch._int_mm`` on this machine, in MAC/s.

    A large, square-ish GEMM (CPU: 8192 x 1024 x 1024, CUDA: 16384 x 4096 x 4096) so that the kernel, not
    call overhead or a skinny shape, sets the rate: the conv-shaped GEMMs of the extractor (N = 32..160)
    reach less. The first call is a warm-up.
    """
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    m = m or (16384 if dev == "cuda" else 8192)
    k = k or (4096 if dev == "cuda" else 1024)
    n = n or (4096 if dev == "cuda" else 1024)
    a = torch.randint(-8, 8, (m, k), dtype=torch.int8, device=dev)
    b = torch.randint(-8, 8, (n, k), dtype=torch.int8, device=dev).t()  # column-major B, as cuBLASLt wants
    ms = _median_ms(lambda: torch._int_mm(a, b), repeats)
    return m * k * n / (ms / 1e3)


def int8_rates(repeats: int = 5) -> dict[str, float]:
    """This machine's int8 rate by three large kernels, in MAC/s (name -> rate); the yardstick is the fastest.

    On CPU: ``torch._int_mm`` 8192 x 1024 x 1024 (oneDNN's plain GEMM, which does not use AMX), oneDNN's
    int8 matmul (``torch.ops.onednn.qlinear_pointwise``, u8 x s8 -> u8, AMX / VNNI brgemm) of the same
    shape, and oneDNN's int8 3x3 convolution 256 -> 256 at 128 x 128 (u8 out), the kernel family the CPU
    backend runs, at a shape wide enough to reach its peak. On CUDA only the ``torch._int_mm`` GEMM. A
    kernel this torch build lacks is left out.
    """
    rates = {"torch._int_mm 8192x1024x1024" if not torch.cuda.is_available() else "torch._int_mm 16384x4096x4096":
             int8_gemm_peak(repeats=repeats)}
    if torch.cuda.is_available() or not hasattr(torch.ops.onednn, "qlinear_pointwise"):
        return rates
    g = torch.Generator().manual_seed(0)
    m, k, n = 8192, 1024, 1024
    a = torch.randint(0, 16, (m, k), generator=g, dtype=torch.uint8)
    w = torch.randint(-8, 8, (n, k), generator=g, dtype=torch.int8)
    scales, zeros = torch.full((n,), 1e-3), torch.zeros(n, dtype=torch.long)
    packed = torch.ops.onednn.qlinear_prepack(w, None)
    ms = _median_ms(lambda: torch.ops.onednn.qlinear_pointwise(a, 1.0, 0, packed, scales, zeros, None, 1.0, 0,
                                                                torch.uint8, "none", [], ""), repeats)
    rates["oneDNN int8 matmul 8192x1024x1024"] = m * k * n / (ms / 1e3)
    from qwplugin.intexec.cpu_backend import OneDnnConv

    c, hw = 256, 128
    x = torch.randint(0, 16, (1, c, hw, hw), generator=g, dtype=torch.uint8).contiguous(
        memory_format=torch.channels_last)
    conv = OneDnnConv(torch.randint(-8, 8, (c, c, 3, 3), generator=g, dtype=torch.int8), torch.full((c,), 1e-3),
                      torch.zeros(c), 1, 15.0)  # the CPU backend's fused 4-bit conv
    ms = _median_ms(lambda: conv(x), repeats)
    rates["oneDNN int8 conv 3x3 256->256 @128x128"] = c * c * 9 * hw * hw / (ms / 1e3)
    return rates


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """"960x540,1920x1080" -> [(960, 540), (1920, 1080)] (width x height)."""
    return [tuple(int(v) for v in s.lower().split("x")) for s in text.split(",") if s]


def _load() -> str:
    return "{:.1f}".format(os.getloadavg()[0])


def uptime() -> str:
    """The ``uptime`` line (load averages over 1, 5, 15 minutes), for the tables."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def startup_seconds(repeats: int = 3, size: tuple[int, int] = (128, 72)) -> dict[str, float]:
    """Median seconds to construct a ``Context`` (weights loaded, backend chosen and self-tested) for
    ``precision="int4"`` (the integer file) and ``"fp32"``, alternating, after one warm-up of each."""
    from qwplugin import Context, ContextDesc

    times: dict[str, list[float]] = {"int4": [], "fp32": []}
    for i in range(repeats + 1):
        for precision in times:
            t0 = time.perf_counter()
            ctx = Context(ContextDesc(render_size=size, model="qwnet", precision=precision, backend="cpu"))
            elapsed = time.perf_counter() - t0
            ctx.close()
            if i:
                times[precision].append(elapsed)
    return {k: statistics.median(v) for k, v in times.items()}


def _layer_rows(net, program, x, size: str, repeats: int, peak: float, hp: int, wp: int) -> list[dict]:
    """Per-op medians of the CPU backend (each op timed alone, in program order), then the float tail."""
    from qwplugin.intexec.interpreter import run_ops
    from qwplugin.intexec.network import filter_from_logits

    kernels = net.backend.kernels
    times = {op_name(op): [] for op in program.ops}
    tail, quant = [], []
    color = torch.rand(1, 3, hp, wp, generator=torch.Generator().manual_seed(1))
    history = torch.rand(1, 3, hp, wp, generator=torch.Generator().manual_seed(2))
    for _ in range(max(1, repeats) + 1):  # the first pass is a warm-up
        t0 = time.perf_counter()
        codes = quantize_input(x, program.input_spec.scale)
        env = {program.input_name: kernels.begin(program, codes)}
        quant.append((time.perf_counter() - t0) * 1e3)
        for op in program.ops:
            t0 = time.perf_counter()
            run_ops(kernels, [op], env)
            times[op_name(op)].append((time.perf_counter() - t0) * 1e3)
        logits = [net.backend.values(n, env[n]) for n in program.heads]
        t0 = time.perf_counter()
        filter_from_logits(net.config, logits, color, history)
        tail.append((time.perf_counter() - t0) * 1e3)
    rows = [{"size": size, "op": "input quantization + begin", "kind": "other", "ms": statistics.median(quant[1:]),
             "macs": 0}]
    level = {program.input_name: 1.0}
    first_head: dict[str, int] = {}  # features name -> row of the first head reading it (heads run stacked)
    for op in program.ops:
        src = op.srcs[0] if hasattr(op, "srcs") else op.src
        level[op.dst] = level[src] * {"MaxPool": 0.25, "Upsample": 4.0}.get(type(op).__name__, 1.0)
        kind = {"Conv": "conv", "ConvLogits": "logits"}.get(type(op).__name__, "structural")
        macs = getattr(op, "macs_per_pixel", 0) * level[src] * hp * wp
        label = op_name(op)
        if kind == "logits" and src in first_head:  # computed by the stacked conv of the group's first head
            rows[first_head[src]]["macs"] += macs
            rows[first_head[src]]["op"] += f" + {op.name} (stacked)"
            continue
        if kind == "logits":
            first_head[src] = len(rows)
        banded = kind == "conv" and op.src in getattr(kernels, "_banded_concats", ())
        rows.append({"size": size, "op": label + (" + its concat, in bands" if banded else ""), "kind": kind,
                     "ms": statistics.median(times[op_name(op)][1:]), "macs": macs, "with_concat": banded})
    softmax = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        for z in logits:
            torch.softmax(z, dim=1)
        softmax.append((time.perf_counter() - t0) * 1e3)
    rows.append({"size": size, "op": "filter tail: softmax, kernel application, avg-pool, bilinear (float32)",
                 "kind": "tail", "ms": statistics.median(tail[1:]), "macs": 0})
    rows.append({"size": size, "op": "(of which the 9 softmaxes, timed alone; not added to the sum)",
                 "kind": "note", "ms": statistics.median(softmax), "macs": 0})
    for r in rows:
        r["peak"] = peak
    return rows


def run(sizes, repeats: int, weights: str | None = None, layers: bool = False, startup: bool = False,
        repeats_by_size: dict[str, int] | None = None):
    """Measure every backend at every size (see the module docstring).

    Args:
        sizes: (width, height) pairs.
        repeats: timed runs per measurement (median), unless ``repeats_by_size`` names the size.
        weights: an integer weights file instead of the shipped ``qwnet-int4``.
        layers: also the per-op table of the CPU backend.
        startup: also the Context start-up times (int4 vs FP32).
        repeats_by_size: e.g. ``{"1920x1080": 1}``.

    Returns:
        dict with ``rows``, ``layer_rows``, ``peaks`` (size -> (before, after) :func:`int8_rates` dicts),
        ``macs_px``,
        ``uptime`` (size -> (before, after)), ``startup``.
    """
    from qwplugin.intexec.network import IntegerQWNet
    from qwplugin.runtime.weights import SHIPPED_DIR, load_weights_file

    fp32 = load_weights_file(SHIPPED_DIR / "qwnet-fp32.safetensors").model.eval()
    int_file = load_weights_file(Path(weights) if weights else SHIPPED_DIR / "qwnet-int4.safetensors")
    program = int_file.model.program
    nets = []
    for pref in ("triton", "cpu", "fakequant"):
        net = IntegerQWNet(program, int_file.config)
        try:
            net.use_backend(pref)
        except Exception:  # noqa: BLE001 - a backend that cannot run here is simply not benchmarked
            continue
        nets.append(net)
    macs_px = program.macs_per_pixel()
    out = {"rows": [], "layer_rows": [], "peaks": {}, "macs_px": macs_px, "uptime": {}, "startup": None,
           "repeats": {}}
    for w, h in tqdm(sizes, desc="bench", unit="size"):
        size = f"{w}x{h}"
        reps = (repeats_by_size or {}).get(size, repeats)
        out["repeats"][size] = reps
        up_before, peak_before = uptime(), int8_rates()
        pm = program.pad_multiple
        hp, wp = -(-h // pm) * pm, -(-w // pm) * pm
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, program.input_spec.channels, hp, wp, generator=g)
        color, hist = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)
        rows = []
        for net in [None] + nets:
            with torch.no_grad():
                if net is None:
                    name, exact = "fp32 (float model)", False
                    ext = _median_ms(lambda: fp32.features(x), reps)
                    whole = _median_ms(lambda: fp32(color, hist), reps)
                else:
                    name, exact = net.backend.name, net.backend.exact
                    ext = _median_ms(lambda: net.features(x), reps)
                    whole = _median_ms(lambda: net(color, hist), reps)
            rows.append({"size": size, "backend": name, "exact": exact, "extractor_ms": ext, "whole_ms": whole,
                         "mac_per_s": macs_px * hp * wp / (ext / 1e3), "load": _load()})
        layer_rows = []
        if layers:
            cpu = next((n for n in nets if n.backend.name == "cpu-int8-onednn"), None)
            if cpu is not None:
                with torch.no_grad():
                    layer_rows = _layer_rows(cpu, program, x, size, reps, 0.0, hp, wp)
        peak_after, up_after = int8_rates(), uptime()
        peak = max(*peak_before.values(), *peak_after.values())  # the fastest yardstick: fractions are lower bounds
        out["peaks"][size] = (peak_before, peak_after)
        out["uptime"][size] = (up_before, up_after)
        base = rows[0]
        for r in rows:
            r["speedup_extractor"] = base["extractor_ms"] / r["extractor_ms"]
            r["speedup_whole"] = base["whole_ms"] / r["whole_ms"]
            r["peak_fraction"] = r["mac_per_s"] / peak
        for r in layer_rows:
            r["peak"] = peak
        out["rows"] += rows
        out["layer_rows"] += layer_rows
    if startup:
        up = uptime()
        out["startup"] = (startup_seconds(), up, uptime())
    return out


def op_name(op) -> str:
    """A short label of an op for the per-layer table."""
    kind = type(op).__name__
    if hasattr(op, "weight"):
        co, ci, k, _ = op.weight.shape
        return f"{op.name} ({kind} {k}x{k} {ci}->{co}, w{op.weight_bits})"
    return f"{op.dst} ({kind})"


def conv_summary(layer_rows: list[dict]) -> dict[str, float]:
    """The CPU backend's integer convolutions of the U-Net together: MACs over their summed time, as GMAC/s
    and as a fraction of the int8 rate of the same run (issue 17's ">= 50%" criterion)."""
    convs = [r for r in layer_rows if r["kind"] == "conv"]
    ms, macs = sum(r["ms"] for r in convs), sum(r["macs"] for r in convs)
    rate = macs / (ms / 1e3) if ms else 0.0
    alone = [r for r in convs if not r.get("with_concat")]  # without the projections that build their concat
    ms_a, macs_a = sum(r["ms"] for r in alone), sum(r["macs"] for r in alone)
    rate_a = macs_a / (ms_a / 1e3) if ms_a else 0.0
    peak = convs[0]["peak"] if convs else 1.0
    return {"ms": ms, "gmac_s": rate / 1e9, "fraction": rate / peak if convs else 0.0,
            "alone_gmac_s": rate_a / 1e9, "alone_fraction": rate_a / peak if alone else 0.0,
            "with_concat": len(convs) - len(alone)}


def to_markdown(result: dict, command: str) -> str:
    rows, layer_rows, macs_px = result["rows"], result["layer_rows"], result["macs_px"]
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    knobs = [f"{k}={os.environ[k]}" for k in ALLOCATOR_ENV if k in os.environ]
    lines = [f"Command: `{command}`  ", f"Device: {dev}; torch {torch.__version__}  ",
             f"Allocator / threading environment: {', '.join(knobs) if knobs else 'none set (glibc defaults)'}  ",
             f"Extractor: {macs_px / 1e3:.1f} kMAC/px. int8 rate = the fastest of three large int8 kernels "
             "(CPU: `torch._int_mm` 8192 x 1024 x 1024, oneDNN's int8 matmul of the same shape, oneDNN's int8 "
             "3x3 conv 256->256 at 128x128; median of 5 each), measured before and after each size's block; "
             "the fractions use the fastest of all (on a loaded machine the rate swings, so a fraction is a "
             "lower bound).", ""]
    for size in dict.fromkeys(r["size"] for r in rows):
        before, after = result["peaks"][size]
        up_before, up_after = result["uptime"][size]
        rates = "; ".join(f"{name} {before[name] / 1e9:.0f} / {after[name] / 1e9:.0f}" for name in before)
        lines += [f"**{size}** ({result['repeats'][size]} timed run(s) per cell after one warm-up; int8 rates in "
                  f"GMAC/s before / after: {rates})  ",
                  f"`uptime` before: `{up_before}`  ", f"`uptime` after: `{up_after}`", "",
                  "| backend | exact | extractor ms | whole net ms | extractor GMAC/s | x FP32 (extractor) "
                  "| x FP32 (whole) | extractor of int8 rate | load avg |", "|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["size"] == size):
            lines.append(f"| {r['backend']} | {'yes' if r['exact'] else 'no'} | {r['extractor_ms']:.0f} "
                         f"| {r['whole_ms']:.0f} | {r['mac_per_s'] / 1e9:.1f} | {r['speedup_extractor']:.2f} "
                         f"| {r['speedup_whole']:.2f} | {100 * r['peak_fraction']:.1f}% | {r['load']} |")
        sel = [r for r in layer_rows if r["size"] == size]
        if sel:
            notes = [r for r in sel if r["kind"] == "note"]
            sel = [r for r in sel if r["kind"] != "note"]
            total = sum(r["ms"] for r in sel)
            lines += ["", f"Per op at {size}, CPU backend (`cpu-int8-onednn`), median ms of the op alone (program "
                      "order), then the float32 filter tail on the same logits:", "",
                      "| op | ms | share | GMAC/s | of int8 rate |", "|---|---|---|---|---|"]
            for r in sel:
                rate = r["macs"] / (r["ms"] / 1e3) if r["macs"] and r["ms"] > 0 else None
                frac = f"{100 * rate / r['peak']:.0f}%" if rate else "-"
                lines.append(f"| {r['op']} | {r['ms']:.1f} | {100 * r['ms'] / total:.1f}% "
                             f"| {rate / 1e9:.1f} | {frac} |" if rate else
                             f"| {r['op']} | {r['ms']:.1f} | {100 * r['ms'] / total:.1f}% | - | - |")
            for r in notes:
                lines.append(f"| {r['op']} | {r['ms']:.1f} | | | |")
            for kind, label in (("conv", "U-Net integer convs"), ("structural", "max-pool / upsample / concat"),
                                ("logits", "filter 1x1 convs (integer logits)"), ("tail", "float32 filter tail"),
                                ("other", "input quantization")):
                ms = sum(r["ms"] for r in sel if r["kind"] == kind)
                lines.append(f"| **{label}** | {ms:.1f} | {100 * ms / total:.1f}% | | |")
            cs = conv_summary(sel)
            lines.append(f"| **sum** | {total:.1f} | 100% | | |")
            lines += ["", f"U-Net integer convs together: {cs['gmac_s']:.1f} GMAC/s = **{100 * cs['fraction']:.0f}% "
                      "of the int8 rate** of the same run."]
            if cs["with_concat"]:
                lines[-1] += (f" {cs['with_concat']} of them (the decoder's 1x1 projections) also build their "
                              f"concat band by band; the others alone: {cs['alone_gmac_s']:.1f} GMAC/s = "
                              f"**{100 * cs['alone_fraction']:.0f}%**.")
        lines.append("")
    if result["startup"]:
        st, up_before, up_after = result["startup"]
        lines += ["Context start-up (`Context(ContextDesc(render_size=(128, 72), model=\"qwnet\", precision=..., "
                  "backend=\"cpu\"))`, median of 3 alternating after one warm-up each):  ",
                  f"`uptime` before: `{up_before}`, after: `{up_after}`", "",
                  "| precision | start-up s |", "|---|---|",
                  f"| int4 (integer file) | {st['int4']:.3f} |", f"| fp32 | {st['fp32']:.3f} |", ""]
    return "\n".join(lines) + "\n"


@command("qw-bench-integer")
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog=prog_name("qw-bench-integer", "qwplugin.intexec.bench"),
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the markdown table here (also printed)")
    ap.add_argument("--sizes", default="960x540,1920x1080", help="comma-separated WxH list")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    ap.add_argument("--repeats-at", default="", help="per-size override, e.g. 1920x1080=1")
    ap.add_argument("--weights", help="an integer weights file (.safetensors); default: the shipped qwnet-int4")
    ap.add_argument("--layers", action="store_true", help="add the per-op table of the CPU backend")
    ap.add_argument("--startup", action="store_true", help="add Context start-up times, int4 vs FP32")
    args = ap.parse_args(argv)
    by_size = dict(item.split("=") for item in args.repeats_at.split(",") if item)
    result = run(parse_sizes(args.sizes), args.repeats, args.weights, args.layers, args.startup,
                 {k: int(v) for k, v in by_size.items()})
    cmd = "python -m qwplugin.intexec.bench " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    text = to_markdown(result, cmd.strip())
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    raise SystemExit(main())
