"""Benchmark the integer backends: ``python -m qwplugin.intexec.bench --out docs/bench_integer.md``.

Per backend and size: median ms/frame of the feature extractor and of the whole QW-Net (extractor +
filter network), effective integer MAC/s of the extractor, ratio to the FP32 path measured in the same
run, the fraction of this machine's int8 GEMM rate (a large ``torch._int_mm``, same run) and the load
average when the row was measured. With ``--layers`` also a per-op table of the CPU backend (ms, GMAC/s
and share of the extractor time per op). Default weights: the shipped ``qwnet-fp32`` (the FP32 path) and
``qwnet-int4`` (the integer program, run as :class:`~qwplugin.intexec.network.IntegerQWNet`).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from tqdm import tqdm

from qwplugin.intexec.reference import quantize_input


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


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """"960x540,1920x1080" -> [(960, 540), (1920, 1080)] (width x height)."""
    return [tuple(int(v) for v in s.lower().split("x")) for s in text.split(",") if s]


def _load() -> str:
    return "{:.1f}".format(os.getloadavg()[0])


def run(sizes, repeats: int, weights: str | None = None, layers: bool = False):
    """Measure every backend at every size (see the module docstring).

    Returns:
        ``(rows, layer_rows, int8 MAC/s, extractor MAC per pixel)``.
    """
    from qwplugin.intexec.interpreter import run_ops
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
    peak = int8_gemm_peak()
    macs_px = program.macs_per_pixel()
    rows, layer_rows = [], []
    jobs = [(s, n) for s in sizes for n in [None] + nets]
    for (w, h), net in tqdm(jobs, desc="bench", unit="run"):
        pm = program.pad_multiple
        hp, wp = -(-h // pm) * pm, -(-w // pm) * pm
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, program.input_spec.channels, hp, wp, generator=g)
        color, hist = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)
        with torch.no_grad():
            if net is None:
                name, exact = "fp32 (float model)", False
                ext = _median_ms(lambda: fp32.features(x), repeats)
                whole = _median_ms(lambda: fp32(color, hist), repeats)
            else:
                name, exact = net.backend.name, net.backend.exact
                ext = _median_ms(lambda: net.features(x), repeats)
                whole = _median_ms(lambda: net(color, hist), repeats)
        rows.append({"size": f"{w}x{h}", "backend": name, "exact": exact, "extractor_ms": ext, "whole_ms": whole,
                     "mac_per_s": macs_px * hp * wp / (ext / 1e3), "load": _load()})
        if layers and net is not None and net.backend.name == "cpu-int8-fbgemm":
            kernels = net.backend.kernels
            codes = quantize_input(x, program.input_spec.scale)
            times = {op_name(op): [] for op in program.ops}
            for _ in range(max(1, repeats)):
                env = {program.input_name: kernels.begin(program, codes)}
                for op in program.ops:
                    t0 = time.perf_counter()
                    run_ops(kernels, [op], env)
                    times[op_name(op)].append((time.perf_counter() - t0) * 1e3)
            level = {program.input_name: 1.0}
            for op in program.ops:
                src = op.srcs[0] if hasattr(op, "srcs") else op.src
                level[op.dst] = level[src] * {"MaxPool": 0.25, "Upsample": 4.0}.get(type(op).__name__, 1.0)
                ms = statistics.median(times[op_name(op)])
                macs = getattr(op, "macs_per_pixel", 0) * level[src] * hp * wp
                layer_rows.append({"size": f"{w}x{h}", "op": op_name(op), "ms": ms, "gmac_s": macs / (ms / 1e3) / 1e9
                                   if macs else None, "load": _load()})
    for r in rows:
        base = next(b for b in rows if b["size"] == r["size"] and b["backend"].startswith("fp32"))
        r["speedup_extractor"] = base["extractor_ms"] / r["extractor_ms"]
        r["speedup_whole"] = base["whole_ms"] / r["whole_ms"]
        r["peak_fraction"] = r["mac_per_s"] / peak
    return rows, layer_rows, peak, macs_px


def op_name(op) -> str:
    """A short label of an op for the per-layer table."""
    kind = type(op).__name__
    if hasattr(op, "weight"):
        co, ci, k, _ = op.weight.shape
        return f"{op.name} ({kind} {k}x{k} {ci}->{co}, w{op.weight_bits})"
    return f"{op.dst} ({kind})"


def to_markdown(rows, layer_rows, peak, macs_px, command: str) -> str:
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    lines = [f"Command: `{command}`  ", f"Device: {dev}; torch {torch.__version__}  ",
             f"Extractor: {macs_px / 1e3:.1f} kMAC/px; int8 GEMM rate (one large `torch._int_mm`, "
             f"same run): {peak / 1e9:.1f} GMAC/s", "",
             "| size | backend | exact | extractor ms | whole net ms | extractor GMAC/s | x FP32 (extractor) "
             "| x FP32 (whole) | of int8 rate | load avg |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} | {r['backend']} | {'yes' if r['exact'] else 'no'} | {r['extractor_ms']:.0f} "
                     f"| {r['whole_ms']:.0f} | {r['mac_per_s'] / 1e9:.1f} | {r['speedup_extractor']:.2f} "
                     f"| {r['speedup_whole']:.2f} | {100 * r['peak_fraction']:.1f}% | {r['load']} |")
    if layer_rows:
        lines += ["", "Per op, CPU backend (`cpu-int8-fbgemm`), median ms of the op alone:", "",
                  "| size | op | ms | share | GMAC/s | load avg |", "|---|---|---|---|---|---|"]
        for size in dict.fromkeys(r["size"] for r in layer_rows):
            sel = [r for r in layer_rows if r["size"] == size]
            total = sum(r["ms"] for r in sel)
            for r in sel:
                rate = f"{r['gmac_s']:.1f}" if r["gmac_s"] else "-"
                lines.append(f"| {size} | {r['op']} | {r['ms']:.1f} | {100 * r['ms'] / total:.1f}% | {rate} "
                             f"| {r['load']} |")
            lines.append(f"| {size} | **sum** | {total:.1f} | 100% | | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the markdown table here (also printed)")
    ap.add_argument("--sizes", default="960x540,1920x1080", help="comma-separated WxH list")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    ap.add_argument("--weights", help="an integer weights file (.safetensors); default: the shipped qwnet-int4")
    ap.add_argument("--layers", action="store_true", help="add the per-op table of the CPU backend")
    args = ap.parse_args(argv)
    rows, layer_rows, peak, macs_px = run(parse_sizes(args.sizes), args.repeats, args.weights, args.layers)
    cmd = "python -m qwplugin.intexec.bench " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    text = to_markdown(rows, layer_rows, peak, macs_px, cmd.strip())
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
