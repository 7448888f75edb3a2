"""Baselines on a dataset's validation split, measured exactly as training validates (eval.csv figures).

    python scripts/val_baselines.py --data data/train_v2 --val-sequences 8 [--checkpoint runs/X/checkpoint.pt]

Prints one markdown row per method: the no-AA input, the tuned TAA (``TAAConfig()``), the classic TAA
(on an upscaling dataset, whose references are larger than the renders: the bilinearly upscaled no-AA input
and the tuned TAAU, ``TAAUConfig()`` with its sharpening, instead) and, with ``--checkpoint``, that checkpoint's model (its EMA weights when it has them) and, with
``--init CONFIG``, a freshly initialised model of a training config (step 0); ``--weights FILE`` runs an FP32
weights file, and ``--history-warp`` overrides the history warp of every loaded model (the warp alone,
without retraining). PSNR and temporal error in
the network domain ``x / (1 + x)`` and mean LDR-FLIP, as :func:`qwplugin.train.evaluate.evaluate` computes
them, over the same whole sequences the trainer validates on (the first ``--val-sequences`` of the split).
"""

from __future__ import annotations

import argparse

import torch

from qwplugin.data.dataset import SequenceDataset, to_tensors
from qwplugin.model.display import displayed_nw, output_sharpen_of
from qwplugin.ops.colour import to_network
from qwplugin.taa import TAAConfig, TemporalAA
from qwplugin.train.evaluate import flip_available
from qwplugin.train.loss import qwnet_loss


def taa_sequence(config: TAAConfig, block: dict[str, torch.Tensor]) -> torch.Tensor:
    """(1, T, 3, H, W) network-domain TAA output over a whole validation block (reset at frame 0 and cuts)."""
    taa, outs = TemporalAA(config), []
    for t in range(block["color"].shape[0]):
        jitter = tuple(float(v) for v in block["jitter_px"][t])
        out = taa.step(block["color"][t:t + 1], block["motion_px"][t:t + 1], reset=bool(t == 0 or block["resets"][t]),
                       jitter_px=jitter, depth=block["depth"][t:t + 1])
        outs.append(to_network(out))
    return torch.stack(outs, 1)


def taau_sequence(config, block: dict[str, torch.Tensor]) -> torch.Tensor:
    """(1, T, 3, H, W) network-domain TAAU output (display size = the reference's) over a validation block."""
    from qwplugin.taau import TemporalUpscaler

    hd, wd = block["reference"].shape[-2:]
    taau, outs = TemporalUpscaler((wd, hd), config), []
    for t in range(block["color"].shape[0]):
        jitter = tuple(float(v) for v in block["jitter_px"][t])
        out = taau.step(block["color"][t:t + 1], block["motion_px"][t:t + 1],
                        reset=bool(t == 0 or block["resets"][t]), jitter_px=jitter, depth=block["depth"][t:t + 1])
        outs.append(to_network(out))
    return torch.stack(outs, 1)


def _upscaling(block: dict[str, torch.Tensor]) -> bool:
    return block["reference"].shape[-2:] != block["color"].shape[-2:]


def _frame_psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR (peak 1) of (..., 3, H, W): as the trainer's validation (MSE floor 1e-10)."""
    return -10.0 * torch.log10(torch.clamp(torch.mean((a - b) ** 2, dim=(-3, -2, -1)), min=1e-10))


def _mean_flip(out_nw: torch.Tensor, ref_nw: torch.Tensor) -> list[float]:
    from qwplugin.eval.metrics import flip_ldr

    o, r = out_nw[0].clamp(0, 1).permute(0, 2, 3, 1).numpy(), ref_nw[0].permute(0, 2, 3, 1).numpy()
    return [flip_ldr(r[t], o[t]) for t in range(o.shape[0])]


def _flicker(out: torch.Tensor, ref_nw: torch.Tensor, mv: torch.Tensor, resets: torch.Tensor) -> list[float]:
    """Per frame pair (no pair ending at a reset): :func:`qwplugin.metrics.temporal_error_and_flicker`'s flicker."""
    from qwplugin.metrics import temporal_error_and_flicker

    values = []
    for t in range(1, out.shape[1]):
        if bool(resets[0, t]):
            continue
        _, f = temporal_error_and_flicker(out[:, t], out[:, t - 1], ref_nw[:, t], ref_nw[:, t - 1], mv[:, t])
        values += [float(v) for v in f if v == v]
    return values


def figures(outputs: list[torch.Tensor], blocks: list[dict[str, torch.Tensor]], flip: bool) -> dict[str, float]:
    psnr, temporal, flips, flicker = [], [], [], []
    for out, b in zip(outputs, blocks):
        ref_nw, mv = to_network(b["reference"])[None], b["motion_px"][None]
        if _upscaling(b):  # the temporal error at display resolution reads display-pixel motion
            from qwplugin.model.upscale_input import display_motion

            mv = display_motion(mv, ref_nw.shape[-2:])
        resets = b["resets"][None].clone()
        resets[:, 0] = True
        psnr.append(_frame_psnr(out, ref_nw).flatten())
        temporal.append(float(qwnet_loss(out, ref_nw, mv, resets, spatial_weight=0.0).temporal))
        flicker += _flicker(out, ref_nw, mv, resets)
        if flip:
            flips += _mean_flip(out, ref_nw)
    return {"psnr_db": float(torch.cat(psnr).mean()), "temporal": sum(temporal) / len(temporal),
            "flip": sum(flips) / len(flips) if flip else float("nan"),
            "flicker": sum(flicker) / len(flicker) if flicker else float("nan")}


def asconvsr_outputs(path: str, blocks, decay: float) -> list[torch.Tensor]:
    """No-AA + AsConvSR on each block (network domain), control coefficients smoothed with ``decay``."""
    from qwplugin.sr.asconvsr import AsConvSRUpscaler
    from qwplugin.sr.shipped import load_asconvsr

    up = AsConvSRUpscaler(load_asconvsr(path), decay=decay)
    outs = []
    for b in blocks:
        frames = [up(to_network(b["color"][t:t + 1]), reset=t == 0 or bool(b["resets"][t])).clamp(0, 1)
                  for t in range(b["color"].shape[0])]
        outs.append(torch.cat(frames)[None])
    return outs


def _model_outputs(model, blocks, sharpen: float | None = None):
    """The model's shown outputs per block: sharpened by ``sharpen`` (None: its ``ModelConfig.output_sharpen``)."""
    return [displayed_nw(out, output_sharpen_of(model) if sharpen is None else sharpen)
            for out in _raw_outputs(model, blocks)]


def _raw_outputs(model, blocks):
    from qwplugin.train.recurrence import SequenceRunner

    runner, outs = SequenceRunner(model), []
    model.eval()
    with torch.no_grad():
        for b in blocks:
            resets = b["resets"][None].clone()
            resets[:, 0] = True
            out = runner(b["color"][None], b["motion_px"][None], resets, b["depth"][None],
                         jitter_px=b["jitter_px"][None] if "jitter_px" in b else None,
                         display_hw=tuple(b["reference"].shape[-2:]))
            outs.append(out)
    return outs


def _load(path: str, history_warp: str | None):
    """A model from a training checkpoint (its EMA weights; a QAT stage in 4-bit fake-quant, as training
    validated and export ships it) or an FP32 weights file, with ``history_warp`` overriding its config's;
    and its row label ``"PATH (step S[, warp W])"``."""
    import dataclasses

    from qwplugin.model.build import build_model
    from qwplugin.model.config import ModelConfig

    if path.endswith(".safetensors"):
        from pathlib import Path

        from qwplugin.runtime.weights import load_weights_file

        loaded = load_weights_file(Path(path))
        config, state, quantized, step = loaded.config, loaded.model.state_dict(), False, "file"
    else:
        from qwplugin.train.checkpoint import load_checkpoint

        ck = load_checkpoint(path)
        config, state = ModelConfig.from_dict(ck["model_config"]), ck.get("ema_model") or ck["model"]
        quantized, step = bool(ck.get("quantized")), f"step {ck['step']}"
    if history_warp is not None:
        config = dataclasses.replace(config, history_warp=history_warp)
    model = build_model(config)
    model.load_state_dict(state)
    if quantized:
        from qwplugin.quant.switch import set_quantized

        set_quantized(model, True)
    return model, f"{path} ({step}{'' if history_warp is None else f', warp {history_warp}'})"


def main(argv=None) -> int:
    from qwplugin.model.config import HISTORY_WARPS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/train_v2")
    ap.add_argument("--val-sequences", type=int, default=8)
    ap.add_argument("--checkpoint", action="append", default=[])
    ap.add_argument("--init", action="append", default=[], help="training config: its model at step 0")
    ap.add_argument("--weights", action="append", default=[],
                    help="an FP32 .safetensors weights file (e.g. a shipped one), run in FP32")
    ap.add_argument("--history-warp", default=None, choices=HISTORY_WARPS,
                    help="run every --checkpoint / --weights model with this ModelConfig.history_warp instead of "
                         "its own (to measure the warp alone, without retraining)")
    ap.add_argument("--no-baselines", action="store_true", help="only the --init / --checkpoint rows")
    ap.add_argument("--asconvsr", default=None, help="an AsConvSR weights file: no-AA + AsConvSR rows with and "
                    "without the frame-to-frame smoothing of its control coefficients (upscaling datasets)")
    ap.add_argument("--sharpen", default=None,
                    help="comma-separated display-only sharpening strengths to try on each --checkpoint "
                         "(default: its ModelConfig.output_sharpen), to choose output_sharpen on validation")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ds = SequenceDataset(args.data, "val", limit=args.val_sequences)
    blocks = [to_tensors(ds.block(i)) for i in range(len(ds))]
    flip = flip_available()
    if args.no_baselines:
        rows = {}
    elif _upscaling(blocks[0]):
        from torch.nn.functional import interpolate

        from qwplugin.taau import TAAUConfig

        up = [to_network(interpolate(b["color"], size=tuple(b["reference"].shape[-2:]), mode="bilinear",
                                     align_corners=False))[None] for b in blocks]
        rows = {"no-AA (bilinear)": figures(up, blocks, flip),
                "TAAU tuned": figures([taau_sequence(TAAUConfig(), b) for b in blocks], blocks, flip),
                "TAAU tuned, unsharpened": figures([taau_sequence(TAAUConfig(sharpen=0.0), b) for b in blocks],
                                                   blocks, flip)}
        if args.asconvsr:
            from qwplugin.sr.asconvsr import DEFAULT_COEFFICIENT_DECAY

            for decay in (0.0, DEFAULT_COEFFICIENT_DECAY):
                rows[f"no-AA + AsConvSR (coefficient smoothing {decay:g})"] = figures(
                    asconvsr_outputs(args.asconvsr, blocks, decay), blocks, flip)
    else:
        rows = {"no-AA": figures([to_network(b["color"])[None] for b in blocks], blocks, flip),
                "TAA tuned": figures([taa_sequence(TAAConfig(), b) for b in blocks], blocks, flip),
                "TAA classic": figures([taa_sequence(TAAConfig.classic(), b) for b in blocks], blocks, flip)}
    for path in args.init:
        from qwplugin.model.build import build_model
        from qwplugin.train.config import load_config
        from qwplugin.train.loop import model_config_from

        cfg = load_config(path)
        torch.manual_seed(cfg.seed)
        rows[f"{cfg.name} step 0"] = figures(_model_outputs(build_model(model_config_from(cfg.model)), blocks),
                                             blocks, flip)
    for path in args.checkpoint + args.weights:
        model, label = _load(path, args.history_warp)
        if args.sharpen is None:
            rows[label] = figures(_model_outputs(model, blocks), blocks, flip)
            continue
        raw = _raw_outputs(model, blocks)
        for strength in (float(v) for v in args.sharpen.split(",")):
            rows[f"{label[:-1]}, sharpen {strength:g})"] = figures([displayed_nw(o, strength) for o in raw], blocks, flip)
    print(f"validation: {len(blocks)} sequences of {args.data}, {sum(b['color'].shape[0] for b in blocks)} frames")
    print("| method | PSNR dB (network domain) | LDR-FLIP | temporal error | flicker |\n|---|---:|---:|---:|---:|")
    for name, f in rows.items():
        print(f"| {name} | {f['psnr_db']:.2f} | {f['flip']:.4f} | {f['temporal']:.5f} | {f['flicker']:.5f} |")
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, status 2/1 (qwplugin/cli.py)

    raise SystemExit(run_main(main))
