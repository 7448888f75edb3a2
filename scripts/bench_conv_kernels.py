"""FBGEMM against oneDNN on the shipped U-Net's integer convs, same run: why the CPU backend runs oneDNN.

    python scripts/bench_conv_kernels.py [--size 960x540] [--repeats 5] [--out docs/bench_runs/conv_kernels.md]

For every conv of the shipped ``qwnet-int4`` program, at its level's resolution for the given frame size:
the median ms of FBGEMM's quantized ``conv2d_relu`` (quint8 NHWC input, qint8 per-channel weights, fused
requantization; the CPU backend until quant spec version 1) and of oneDNN's ``qconv_pointwise`` (uint8
NHWC codes, int8 weights, clip post-op, uint8 out; the CPU backend now), on random codes of the layer's bit
width, and the ratio. Both get the same threads (torch's). The load average is printed with the table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwplugin.intexec.bench import _median_ms, uptime  # noqa: E402
from qwplugin.intexec.cpu_backend import OneDnnConv  # noqa: E402
from qwplugin.intexec.program import MaxPool, Upsample  # noqa: E402
from qwplugin.runtime.weights import SHIPPED_DIR, load_weights_file  # noqa: E402


def _fbgemm_ms(x: torch.Tensor, w: torch.Tensor, pad: int, repeats: int) -> float:
    torch.backends.quantized.engine = "fbgemm"
    qx = torch._make_per_tensor_quantized_tensor(x, 1.0, 0)
    qw = torch._make_per_channel_quantized_tensor(w, torch.full((w.shape[0],), 1e-3, dtype=torch.float64),
                                                  torch.zeros(w.shape[0], dtype=torch.long), 0)
    packed = torch.ops.quantized.conv2d_prepack(qw, torch.zeros(w.shape[0]), [1, 1], [pad] * 2, [1, 1], 1)
    return _median_ms(lambda: torch.ops.quantized.conv2d_relu(qx, packed, 0.05, 0), repeats)


def _onednn_ms(x: torch.Tensor, w: torch.Tensor, pad: int, repeats: int) -> float:
    conv = OneDnnConv(w, torch.full((w.shape[0],), 1e-3), torch.zeros(w.shape[0]), pad, 15.0)
    return _median_ms(lambda: conv(x), repeats)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="960x540", help="frame size WxH (default 960x540)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per cell (median)")
    ap.add_argument("--out", help="also write the markdown table here")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    program = load_weights_file(SHIPPED_DIR / "qwnet-int4.safetensors").model.program
    pm = program.pad_multiple
    hp, wp = -(-height // pm) * pm, -(-width // pm) * pm
    level = {program.input_name: 0}
    g = torch.Generator().manual_seed(0)
    rows = []
    warnings.simplefilter("ignore", UserWarning)  # quantized-tensor deprecation notices (FBGEMM side)
    before = uptime()
    for op in program.extractor_ops():
        src = op.srcs[0] if hasattr(op, "srcs") else op.src
        level[op.dst] = level[src] + (1 if isinstance(op, MaxPool) else -1 if isinstance(op, Upsample) else 0)
        if not hasattr(op, "weight"):
            continue
        h, w = hp >> level[src], wp >> level[src]
        cout, cin, k, _ = op.weight.shape
        qmax = 2 ** program.tensors[op.src].bits - 1
        x = torch.randint(0, qmax + 1, (1, cin, h, w), generator=g, dtype=torch.uint8)
        x = x.contiguous(memory_format=torch.channels_last)
        fb = _fbgemm_ms(x, op.weight, op.padding, args.repeats)
        od = _onednn_ms(x, op.weight, op.padding, args.repeats)
        rows.append((f"{op.name} ({k}x{k} {cin}->{cout}, w{op.weight_bits}) @{w}x{h}", fb, od))
    after = uptime()
    lines = [f"Command: `python scripts/bench_conv_kernels.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ",
             f"torch {torch.__version__}, {torch.get_num_threads()} threads; `uptime` before: `{before}`, "
             f"after: `{after}`", "", "| conv | FBGEMM ms | oneDNN ms | FBGEMM / oneDNN |", "|---|---|---|---|"]
    lines += [f"| {name} | {fb:.2f} | {od:.2f} | {fb / od:.1f}x |" for name, fb, od in rows]
    fb_sum, od_sum = sum(r[1] for r in rows), sum(r[2] for r in rows)
    ratios = sorted(r[1] / r[2] for r in rows)
    lines += [f"| **all convs** | {fb_sum:.1f} | {od_sum:.1f} | {fb_sum / od_sum:.1f}x |", "",
              f"Per-conv ratio: median {statistics.median(ratios):.1f}x, range {ratios[0]:.1f}x - {ratios[-1]:.1f}x."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
