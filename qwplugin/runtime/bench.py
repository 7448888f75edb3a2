"""Per-stage ``Context.dispatch`` timings as a markdown table.

``python -m qwplugin.runtime.bench --size 256x144 --models qwnet-tiny,qwnet --frames 8``

Each configuration gets its own context, built by name from the registry (:mod:`qwplugin.runtime.registry`),
``--warmup`` untimed frames, then ``--frames`` timed ones on a synthetic panning frame; the table shows the
per-stage medians of :class:`~qwplugin.runtime.Context`'s own statistics (see :mod:`qwplugin.runtime.timing`)
and the precision as actually run (``info.details["precision_detail"]``).
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
import torch
from tqdm import tqdm

from qwplugin.cli import command, parse_size, prog_name
from qwplugin.runtime import registry
from qwplugin.runtime.frame import Frame

CONFIGS = (("qwnet-fp32", "auto"), ("qwnet-int4", "fakequant"), ("qwnet-int4", "auto"))
"""(registry method, ``int4_backend``) per row: FP32, the fake-quant simulation, the fastest integer backend."""
COLUMNS = ("checks", "input_transfer", "extractor", "filter", "output_transfer", "total")


def synthetic_frame(width: int, height: int, t: int) -> Frame:
    """A smooth texture panning right 1 px per frame (motion -1 px in x), Halton-free fixed jitter."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    xs = xs - t
    color = np.stack([1 + np.sin(0.3 * xs), 1 + np.cos(0.2 * ys), 1 + np.sin(0.1 * (xs + ys))], -1)
    motion = np.zeros((height, width, 2), np.float32)
    motion[..., 0] = -1.0
    return Frame(color=color.astype(np.float32), motion_px=motion, jitter_px=(0.25, -0.25), reset=t == 0)


def run(width: int, height: int, models: list[str], frames: int, warmup: int, backend: str) -> list[str]:
    """Benchmark every (model, precision) configuration; returns the markdown table rows."""
    rows = ["| model | precision as run | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    todo = [(model, method, b) for model in models for method, b in CONFIGS]
    for model, method, int4_backend in tqdm(todo, desc="configurations"):
        ctx = registry.make(method, (width, height), model=model, int4_backend=int4_backend, backend=backend,
                            timing_window=frames)
        for t in range(warmup + frames):
            ctx.dispatch(synthetic_frame(width, height, t))
        medians = ctx.stats.timing_median_ms
        rows.append(f"| {model} | {ctx.info.details['precision_detail']} | "
                    + " | ".join(f"{medians[c]:.1f}" for c in COLUMNS) + " |")
        ctx.close()
    return rows


@command("qw-bench-runtime")
def main(argv: list[str] | None = None) -> None:
    """Print the table. Returns nothing (status 0); errors are reported by :mod:`qwplugin.cli`."""
    parser = argparse.ArgumentParser(prog=prog_name("qw-bench-runtime", "qwplugin.runtime.bench"),
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256x144", help="WIDTHxHEIGHT of the render (default 256x144)")
    parser.add_argument("--models", default="qwnet-tiny,qwnet", help="comma-separated model names or paths")
    parser.add_argument("--frames", type=int, default=8, help="timed frames per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames per configuration")
    parser.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    rows = run(width, height, args.models.split(","), args.frames, args.warmup, args.backend)
    print(f"ms per frame, medians of {args.frames} frames after {args.warmup} warm-up; {platform.processor() or 'CPU'}"
          f", {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, load "
          f"{os.getloadavg()[0]:.1f}")
    print("\n".join(rows))


if __name__ == "__main__":
    raise SystemExit(main())
