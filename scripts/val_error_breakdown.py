"""Where the error is, on a dataset's validation split: by frame index, by motion, and how sharp the output is.

    python scripts/val_error_breakdown.py --data data/train_v2 --val-sequences 8 \
        --weights qwplugin/weights/qwnet-fast-fp32.safetensors [--checkpoint runs/X/checkpoint.pt] \
        [--sharpen 0,0.1,0.2,0.3]

For the no-AA input, the tuned TAA (``TAAConfig()``) and each given network (a weights file, or a
checkpoint's EMA weights), over the whole validation sequences the trainer validates on, prints:

- PSNR (network domain ``x / (1 + x)``, as the trainer's validation) over frames 0-3 (the start after a
  reset), 4-11 and 12 on (closest to the steady state of a long game sequence);
- PSNR over static pixels (motion under 0.25 px) and moving pixels, with the moving pixels' share of the
  squared error;
- sharpness: the mean absolute 4-neighbour Laplacian of the output over that of the reference (1 = as
  sharp as the reference; under 1 = blurrier; over 1 = more high-frequency energy than the reference, noise
  or aliasing included);
- the mean signed error (output minus reference), to see a bias (a blur towards darker or brighter);
- ``all frames``: PSNR over every frame, the trainer's validation figure.

With ``--sharpen S1,S2,...`` each network is shown at each display-only output sharpening strength
(``ModelConfig.output_sharpen``, :mod:`qwplugin.model.display`; the recurrence is run once, unsharpened,
and each strength applied to what is shown), which is how the shipped strength is chosen on validation.
Without it a network is shown at its own config's strength.

It answers "what does the network do worse than the TAA" before a training recipe is chosen
(docs/training.md). About 1 min per method and 8 sequences on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwplugin.data.dataset import SequenceDataset, to_tensors  # noqa: E402
from qwplugin.model.display import displayed_nw  # noqa: E402
from qwplugin.ops.colour import to_network  # noqa: E402
from qwplugin.taa import TAAConfig  # noqa: E402
from scripts.val_baselines import _model_outputs, taa_sequence  # noqa: E402

FRAME_GROUPS = ((0, 4), (4, 12), (12, 10**6))
STATIC_PX = 0.25


def _laplacian_abs(x: torch.Tensor) -> torch.Tensor:
    """Mean |4-neighbour Laplacian| of (T, 3, H, W) over the interior, per frame (T,)."""
    lap = 4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    return lap.abs().mean(dim=(-3, -2, -1))


def _psnr(se_sum: float, count: float) -> float:
    return float("nan") if count == 0 else -10.0 * torch.log10(torch.tensor(max(se_sum / count, 1e-10))).item()


def breakdown(outputs: list[torch.Tensor], blocks: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """The figures of the module docstring for one method's (1, T, 3, H, W) network-domain outputs."""
    groups = {g: [] for g in FRAME_GROUPS}
    se_static = se_moving = n_static = n_moving = 0.0
    sharp_out, sharp_ref, bias, all_frames = [], [], [], []
    for out, b in zip(outputs, blocks):
        out, ref = out[0].clamp(0, 1), to_network(b["reference"])
        se = (out - ref) ** 2  # (T, 3, H, W)
        frame_mse = se.mean(dim=(-3, -2, -1))
        all_frames.extend(-10.0 * torch.log10(frame_mse.clamp(min=1e-10)))
        for t in range(out.shape[0]):
            for g in FRAME_GROUPS:
                if g[0] <= t < g[1]:
                    groups[g].append(-10.0 * torch.log10(frame_mse[t].clamp(min=1e-10)))
        moving = (b["motion_px"].norm(dim=1, keepdim=True) >= STATIC_PX).expand_as(se)
        se_moving += float(se[moving].sum())
        se_static += float(se[~moving].sum())
        n_moving += float(moving.sum())
        n_static += float((~moving).sum())
        sharp_out.append(_laplacian_abs(out))
        sharp_ref.append(_laplacian_abs(ref))
        bias.append((out - ref).mean().reshape(1))
    row = {f"frames {g[0]}-{'' if g[1] > 10**5 else g[1] - 1}": float(torch.stack(v).mean()) if v else float("nan")
           for g, v in groups.items()}
    row["static"] = _psnr(se_static, n_static)
    row["moving"] = _psnr(se_moving, n_moving)
    row["moving share of error"] = se_moving / max(se_moving + se_static, 1e-30)
    row["moving pixel share"] = n_moving / max(n_moving + n_static, 1)
    row["sharpness"] = float(torch.cat(sharp_out).mean() / torch.cat(sharp_ref).mean())
    row["bias"] = float(torch.cat(bias).mean())
    row["all frames"] = float(torch.stack(all_frames).mean())
    return row


def _load(path: str) -> torch.nn.Module:
    if path.endswith(".safetensors"):
        from qwplugin.runtime.weights import load_weights_file

        return load_weights_file(Path(path)).model
    from qwplugin.model.build import build_model
    from qwplugin.model.config import ModelConfig
    from qwplugin.train.checkpoint import load_checkpoint

    ck = load_checkpoint(path)
    model = build_model(ModelConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck.get("ema_model") or ck["model"])
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/train_v2")
    ap.add_argument("--val-sequences", type=int, default=8)
    ap.add_argument("--weights", action="append", default=[], help="a float weights file (.safetensors)")
    ap.add_argument("--checkpoint", action="append", default=[], help="a training checkpoint or stage file")
    ap.add_argument("--sharpen", default=None, help="comma-separated display-only sharpening strengths to try")
    args = ap.parse_args(argv)
    strengths = None if args.sharpen is None else [float(v) for v in args.sharpen.split(",") if v]
    ds = SequenceDataset(args.data, "val", limit=args.val_sequences)
    blocks = [to_tensors(ds.block(i)) for i in range(len(ds))]
    rows = {"no-AA": breakdown([to_network(b["color"])[None] for b in blocks], blocks),
            "TAA tuned": breakdown([taa_sequence(TAAConfig(), b) for b in blocks], blocks)}
    for path in args.weights + args.checkpoint:
        model = _load(path)
        if strengths is None:
            rows[Path(path).name] = breakdown(_model_outputs(model, blocks), blocks)
            continue
        own = model.config.output_sharpen
        model.config.output_sharpen = 0.0  # run the recurrence once; each strength only changes what is shown
        raw = _model_outputs(model, blocks)
        model.config.output_sharpen = own
        for s in strengths:
            rows[f"{Path(path).name} sharpen {s:g}"] = breakdown([displayed_nw(o, s) for o in raw], blocks)
    print(f"validation: {len(blocks)} sequences of {args.data}, {sum(b['color'].shape[0] for b in blocks)} frames")
    keys = list(next(iter(rows.values())))
    print("| method | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys))
    for name, row in rows.items():
        cells = [f"{row[k]:.2f}" if "frames" in k or k in ("static", "moving") else
                 f"{row[k]:+.5f}" if k == "bias" else f"{row[k]:.3f}" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, status 2/1 (qwplugin/cli.py)

    raise SystemExit(run_main(main))
