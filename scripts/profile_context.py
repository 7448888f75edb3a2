"""Where a Context's frame time goes: torch.profiler's top operators over a few dispatched frames.

    python scripts/profile_context.py [--model qwnet-fast] [--precision int4] [--size 960x540] [--frames 3]

Runs ``Context(ContextDesc(render_size, model, precision, backend="cpu"))`` on a synthetic pan (textured,
1 px/frame, constant depth, Halton jitter), warms up on 3 frames, then profiles ``--frames`` dispatches and
prints the operators by self CPU time (ms per frame and share), with the load average. A probe for deciding
what to optimise, not a benchmark table: the profiler adds overhead per operator.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "qwplugin"))

from qwplugin import Context, ContextDesc  # noqa: E402
from runtime_frames import pan_frame  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwnet-fast")
    ap.add_argument("--precision", default="int4", choices=["int4", "fp32"])
    ap.add_argument("--size", default="960x540", help="render size WxH")
    ap.add_argument("--frames", type=int, default=3, help="profiled frames (after 3 warm-up frames)")
    ap.add_argument("--rows", type=int, default=15, help="operators to list")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    ctx = Context(ContextDesc(render_size=(w, h), model=args.model, precision=args.precision, backend="cpu"))
    depth = np.full((h, w), 0.5, np.float32)
    frames = [pan_frame(t, h=h, w=w, depth=depth) for t in range(3 + args.frames)]
    for f in frames[:3]:
        ctx.dispatch(f)
    from torch.profiler import profile

    with profile() as prof:
        for f in frames[3:]:
            ctx.dispatch(f)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{args.model} {args.precision} at {w}x{h}, {args.frames} frames: {ctx.backend_info.precision_detail}; "
          f"{total / 1e3 / args.frames:.1f} ms per frame of operator self time; `uptime`: {load}\n")
    print("| operator | calls per frame | ms per frame | share |\n|---|---:|---:|---:|")
    for e in events[:args.rows]:
        print(f"| {e.key} | {e.count / args.frames:.0f} | {e.self_cpu_time_total / 1e3 / args.frames:.1f} "
              f"| {100 * e.self_cpu_time_total / total:.1f}% |")
    ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
