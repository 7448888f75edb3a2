"""Benchmark the extractor backends: ``python -m qwplugin.intexec.bench --out docs/bench_integer.md``.

Per backend and size: median ms/frame of the feature extractor and of the whole QW-Net (extractor +
FP32 filter network), effective integer MAC/s of the extractor, ratio to the FP32 path measured in the
same run, and the fraction of this machine's int8 GEMM peak (a large ``torch._int_mm``, same run).
Uses the ``paper`` configuration with random weights (timing does not depend on the values) unless
``--weights`` names an exported integer model.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from tqdm import tqdm

from qwplugin.intexec.fakequant import FakeQuantExecutor
from qwplugin.intexec.reference import quantize_input
from qwplugin.intexec.select import IntegerFeatureExtractor, make_extractor_backend


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


def run(sizes, repeats: int, weights: str | None = None) -> list[dict]:
    from qwplugin.intexec.export import export_extractor, load_program
    from qwplugin.model import build_model
    from qwplugin.quant import set_quantized

    torch.manual_seed(0)
    model = build_model("paper").eval()
    program = load_program(weights) if weights else export_extractor(set_quantized(model, True))
    set_quantized(model, False)  # the FP32 path: the float model, no fake quantization
    fp32_features = model.features
    backends = []
    for pref in ("triton", "cpu"):
        try:
            backends.append(make_extractor_backend(program, preference=pref)[0])
        except Exception:  # noqa: BLE001 - a backend that cannot run here is simply not benchmarked
            pass
    backends.append(FakeQuantExecutor(program, device="cuda" if torch.cuda.is_available() else "cpu",
                                      dtype=torch.float16 if torch.cuda.is_available() else torch.float32))
    peak = int8_gemm_peak()
    macs_px = program.macs_per_pixel()
    rows = []
    jobs = [(s, b) for s in sizes for b in [None] + backends]
    for (w, h), backend in tqdm(jobs, desc="bench", unit="run"):
        hp, wp = -(-h // program.pad_multiple) * program.pad_multiple, -(-w // program.pad_multiple) * program.pad_multiple
        x = torch.rand(1, program.input_spec.channels, hp, wp)
        color, hist = torch.rand(1, 3, h, w), torch.rand(1, 3, h, w)
        with torch.no_grad():
            if backend is None:
                name, exact = "fp32 (float model)", False
                model.features = fp32_features
                ext = _median_ms(lambda: fp32_features(x), repeats)
            else:
                name, exact = backend.name, backend.exact
                codes = quantize_input(x, program.input_spec.scale)
                ext = _median_ms(lambda: backend.features(codes), repeats)
                model.features = IntegerFeatureExtractor(backend)
            whole = _median_ms(lambda: model(color, hist), repeats)
        model.features = fp32_features
        rows.append({"size": f"{w}x{h}", "backend": name, "exact": exact, "extractor_ms": ext, "whole_ms": whole,
                     "mac_per_s": macs_px * hp * wp / (ext / 1e3)})
    for r in rows:
        base = next(b for b in rows if b["size"] == r["size"] and b["backend"].startswith("fp32"))
        r["speedup_extractor"] = base["extractor_ms"] / r["extractor_ms"]
        r["speedup_whole"] = base["whole_ms"] / r["whole_ms"]
        r["peak_fraction"] = r["mac_per_s"] / peak
    return rows, peak, macs_px


def to_markdown(rows, peak, macs_px, command: str) -> str:
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    lines = [f"Command: `{command}`  ", f"Device: {dev}; torch {torch.__version__}  ",
             f"Extractor: {macs_px / 1e3:.1f} kMAC/px; int8 GEMM peak (one large `torch._int_mm`, "
             f"same run): {peak / 1e9:.1f} GMAC/s", "",
             "| size | backend | exact | extractor ms | whole net ms | extractor GMAC/s | x FP32 (extractor) "
             "| x FP32 (whole) | of int8 peak |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} | {r['backend']} | {'yes' if r['exact'] else 'no'} | {r['extractor_ms']:.0f} "
                     f"| {r['whole_ms']:.0f} | {r['mac_per_s'] / 1e9:.1f} | {r['speedup_extractor']:.2f} "
                     f"| {r['speedup_whole']:.2f} | {100 * r['peak_fraction']:.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the markdown table here (also printed)")
    ap.add_argument("--sizes", default="960x540,1920x1080", help="comma-separated WxH list")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    ap.add_argument("--weights", help="an exported integer model (.safetensors); default: random paper model")
    args = ap.parse_args(argv)
    rows, peak, macs_px = run(parse_sizes(args.sizes), args.repeats, args.weights)
    cmd = "python -m qwplugin.intexec.bench " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    text = to_markdown(rows, peak, macs_px, cmd.strip())
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
