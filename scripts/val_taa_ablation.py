"""What each part of the tuned TAA is worth on a dataset's validation split (the trainer's figures).

    python scripts/val_taa_ablation.py --data data/train_v2 --val-sequences 8

Prints one markdown row per variant of the tuned TAA (``TAAConfig()``), each with one part removed: the
jitter-aware Gaussian current estimate (``filter="none"``: the jittered sample itself), the motion-adaptive
feedback, the output sharpening, closest-depth dilation and depth rejection, and the Catmull-Rom history
resampling (replaced by bilinear, what QW-Net's own warp uses); then everything off at once, with bilinear
and with Catmull-Rom history. Figures as :mod:`scripts.val_baselines` computes them (network-domain PSNR,
LDR-FLIP, temporal error, over the whole validation sequences the trainer validates on). It answered the
question "what can the TAA do that the network, with its inputs, cannot" (docs/training.md, "The TAA
candidate"). About 2.5 min per variant on the 2-core dev machine.

The bilinear-history variants swap :func:`qwplugin.taa.sample_catmull_rom` for
:func:`qwplugin.taa.sample_bilinear` for the duration of that variant only (the TAA has no option for it:
the product TAA always uses Catmull-Rom).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qwplugin.taa as taa_module  # noqa: E402
from qwplugin.data.dataset import SequenceDataset, to_tensors  # noqa: E402
from qwplugin.train.evaluate import flip_available  # noqa: E402
from scripts.val_baselines import figures, taa_sequence  # noqa: E402


@contextlib.contextmanager
def bilinear_history(enabled: bool):
    """Within the block, the TAA resamples its history bilinearly instead of with Catmull-Rom."""
    original = taa_module.sample_catmull_rom
    if enabled:
        taa_module.sample_catmull_rom = taa_module.sample_bilinear
    try:
        yield
    finally:
        taa_module.sample_catmull_rom = original


def variants() -> dict[str, tuple[taa_module.TAAConfig, bool]]:
    """Name -> (TAA configuration, bilinear history)."""
    base = taa_module.TAAConfig()
    off = dict(filter="none", motion_feedback=0.0, sharpen=0.0, dilate_motion=False, depth_rejection=False)
    return {
        "tuned TAA": (base, False),
        "- jitter-aware current estimate (filter none)": (dataclasses.replace(base, filter="none"), False),
        "- motion-adaptive feedback": (dataclasses.replace(base, motion_feedback=0.0), False),
        "- output sharpening": (dataclasses.replace(base, sharpen=0.0), False),
        "- depth dilation and rejection": (dataclasses.replace(base, dilate_motion=False, depth_rejection=False),
                                           False),
        "- Catmull-Rom history (bilinear)": (base, True),
        "all five off, bilinear history": (dataclasses.replace(base, **off), True),
        "all off but Catmull-Rom history": (dataclasses.replace(base, **off), False),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/train_v2")
    ap.add_argument("--val-sequences", type=int, default=8)
    args = ap.parse_args(argv)
    ds = SequenceDataset(args.data, "val", limit=args.val_sequences)
    blocks = [to_tensors(ds.block(i)) for i in range(len(ds))]
    flip = flip_available()
    print(f"validation: {len(blocks)} sequences of {args.data}, {sum(b['color'].shape[0] for b in blocks)} frames")
    print("| TAA variant | PSNR dB (network domain) | LDR-FLIP | temporal error |\n|---|---:|---:|---:|")
    for name, (config, bilinear) in variants().items():
        with bilinear_history(bilinear):
            f = figures([taa_sequence(config, b) for b in blocks], blocks, flip)
        print(f"| {name} | {f['psnr_db']:.2f} | {f['flip']:.4f} | {f['temporal']:.5f} |", flush=True)
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, status 2/1 (qwplugin/cli.py)

    raise SystemExit(run_main(main))
