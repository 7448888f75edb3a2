"""Kernel-softmax health of a QW-Net checkpoint: is the filter network saturated ("copy the history")?

    python scripts/kernel_stats.py runs/qwnet_paper_cpu/checkpoint.pt [--data data/qw_v2]

Runs the checkpoint recurrently over the first validation sequence and prints, per filter stage, the mean
largest softmax weight (1.0 = one-hot, no gradient), the mean |raw logit| and, for the full-resolution
stage, the weight share on the warped history's 9 taps. A collapsed run shows down0 at max weight 1.000
and history share 1.000.
"""

from __future__ import annotations

import argparse

import torch

from qwplugin.data.dataset import SequenceDataset, to_tensors
from qwplugin.model.build import build_model
from qwplugin.model.config import ModelConfig
from qwplugin.train.checkpoint import load_checkpoint
from qwplugin.train.recurrence import SequenceRunner


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="data/qw_v2", help="dataset folder (its first validation sequence is used)")
    args = ap.parse_args(argv)
    ck = load_checkpoint(args.checkpoint)
    model = build_model(ModelConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    cap = model.config.kernel_logit_cap
    stats: dict[str, list[tuple[float, float, float]]] = {}

    def hook(name):
        def record(_module, _inputs, logits):
            capped = cap * torch.tanh(logits / cap) if cap else logits
            w = torch.softmax(capped, 1)
            hist = float(w[:, 9:].sum(1).mean()) if w.shape[1] == 18 else float("nan")
            stats.setdefault(name, []).append((float(w.max(1).values.mean()), float(logits.abs().mean()), hist))
        return record

    for name, conv in list(model.filter.down.items()) + list(model.filter.up.items()):
        conv.register_forward_hook(hook(name))
    block = to_tensors(SequenceDataset(args.data, "val", limit=1).block(0))
    with torch.no_grad():
        SequenceRunner(model)(block["color"][None], block["motion_px"][None], block["resets"][None],
                              block["depth"][None])
    print(f"step {ck['step']} ({ck.get('stage', '?')}); frames after the first averaged")
    print("| stage | max softmax weight | mean abs raw logit | history share |\n|---|---|---|---|")
    for name, rows in stats.items():
        v = torch.tensor(rows[1:] or rows).mean(0).tolist()
        print(f"| {name} | {v[0]:.3f} | {v[1]:.2f} | {v[2]:.3f} |")
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, status 2/1 (qwplugin/cli.py)

    raise SystemExit(run_main(main))
