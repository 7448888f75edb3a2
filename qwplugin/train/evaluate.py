"""Validation figures: PSNR against the reference and temporal error, for a model and the no-AA input.

Both are measured in the network's tonemapped domain ``x / (1 + x)`` (values in [0, 1), peak 1), where
the loss lives too; HDR values would otherwise let a few highlights decide the PSNR. The metrics are the
core's (:mod:`qwplugin.metrics`, the same functions the evaluation uses).

- PSNR: :func:`qwplugin.metrics.psnr_db` per frame (over pixels and channels, MSE in float64), averaged
  over all frames of all validation sequences (frame 0 included).
- Temporal error: :func:`qwplugin.metrics.sequence_temporal_error`, mean
  ``|(out_t - W(out_{t-1})) - (ref_t - W(ref_{t-1}))|`` over t >= 1, camera cuts (reset frames) left out,
  every pixel counted (the rule of the temporal loss term; 0 for an output that changes exactly like the
  reference), averaged over sequences.
- FLIP (optional, ``flip=True``): mean LDR-FLIP per frame (:func:`qwplugin.eval.metrics.flip_ldr`: the
  same display values, sRGB-encoded, NVIDIA ``flip-evaluator``), averaged over all frames; lower is better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from qwplugin.metrics import psnr_db, sequence_temporal_error
from qwplugin.model.display import displayed_nw, output_sharpen_of
from qwplugin.model.upscale_input import display_motion
from qwplugin.ops.colour import to_network
from qwplugin.train.loss import SPATIAL_WEIGHT, qwnet_loss
from qwplugin.train.recurrence import SequenceRunner


@dataclass
class ValidationFigures:
    """Validation results (see the module docstring)."""

    psnr_db: float
    temporal: float
    noaa_psnr_db: float
    noaa_temporal: float
    sequences: int
    frames: int
    loss: float = float("nan")
    flip: float | None = None

    def to_dict(self) -> dict[str, float]:
        out = {"val_psnr_db": round(self.psnr_db, 4), "val_temporal": round(self.temporal, 6),
               "noaa_psnr_db": round(self.noaa_psnr_db, 4), "noaa_temporal": round(self.noaa_temporal, 6),
               "val_sequences": self.sequences, "val_frames": self.frames, "val_loss": round(self.loss, 6)}
        if self.flip is not None:
            out["val_flip"] = round(self.flip, 6)
        return out


def flip_available() -> bool:
    """Whether LDR-FLIP can be computed here (the ``flip-evaluator`` package of the ``eval`` extra)."""
    import importlib.util

    return importlib.util.find_spec("flip_evaluator") is not None


def _mean_flip(out_nw: torch.Tensor, ref_nw: torch.Tensor) -> list[float]:
    """Per-frame LDR-FLIP of (1, T, 3, H, W) display-domain tensors."""
    from qwplugin.eval.metrics import flip_ldr  # lazy: the eval package loads the runtime; FLIP is optional

    o = out_nw[0].clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    r = ref_nw[0].permute(0, 2, 3, 1).cpu().numpy()
    return [flip_ldr(r[t], o[t]) for t in range(o.shape[0])]


@torch.no_grad()
def evaluate(model: torch.nn.Module, blocks: list[dict[str, torch.Tensor]],
             spatial_weight: float = SPATIAL_WEIGHT, flip: bool = False) -> ValidationFigures:
    """Run ``model`` recurrently over whole validation sequences and measure it and the no-AA input.

    Args:
        model: the bare reconstruction model (not DDP-wrapped); left in eval mode while running.
        blocks: per sequence, tensors ``color``/``reference`` (T, 3, H, W), ``motion_px`` (T, 2, H, W),
            ``depth`` (T, 1, H, W), ``resets`` (T,) as made by :func:`qwplugin.data.dataset.to_tensors`.
        spatial_weight: of the training loss, also reported (``loss``, mean over sequences).
        flip: also measure mean LDR-FLIP (needs ``flip-evaluator``; see :func:`flip_available`).

    Returns:
        :class:`ValidationFigures` averaged over frames (PSNR, FLIP) and frame pairs (temporal error).

    Raises:
        ImportError: ``flip`` without the ``flip-evaluator`` package.
    """
    runner = SequenceRunner(model)
    was_training = model.training
    model.eval()
    psnr, noaa_psnr, temporal, noaa_temporal, losses, flips, frames = [], [], [], [], [], [], 0
    try:
        for b in blocks:
            color, ref, mv = b["color"][None], b["reference"][None], b["motion_px"][None]
            resets = b["resets"][None].clone()
            resets[:, 0] = True
            out = runner(color, mv, resets, b["depth"][None], jitter_px=b["jitter_px"][None] if "jitter_px" in b
                         else None, display_hw=tuple(ref.shape[-2:]))  # both read by upscaling models only
            out = displayed_nw(out, output_sharpen_of(model))  # what the viewer sees (ModelConfig.output_sharpen)
            ref_nw, noaa_nw = to_network(ref), to_network(color)
            if ref.shape[-2:] != color.shape[-2:]:  # upscaling: no-AA bilinearly upscaled, display-pixel motion
                noaa_nw = to_network(F.interpolate(color[0], size=tuple(ref.shape[-2:]), mode="bilinear",
                                                   align_corners=False))[None]
                mv = display_motion(mv, ref.shape[-2:])
            psnr.append(psnr_db(ref_nw, out).flatten())
            noaa_psnr.append(psnr_db(ref_nw, noaa_nw).flatten())
            temporal.append(sequence_temporal_error(out, ref_nw, mv, resets))
            noaa_temporal.append(sequence_temporal_error(noaa_nw, ref_nw, mv, resets))
            losses.append(float(qwnet_loss(out, ref_nw, mv, resets, spatial_weight).total))
            if flip:
                flips += _mean_flip(out, ref_nw)
            frames += color.shape[1]
    finally:
        model.train(was_training)
    return ValidationFigures(
        psnr_db=float(torch.cat(psnr).mean()), temporal=sum(temporal) / len(temporal),
        noaa_psnr_db=float(torch.cat(noaa_psnr).mean()), noaa_temporal=sum(noaa_temporal) / len(noaa_temporal),
        sequences=len(blocks), frames=frames, loss=sum(losses) / len(losses),
        flip=sum(flips) / len(flips) if flip else None)


def is_finite_figures(fig: ValidationFigures) -> bool:
    """True when every figure is a finite number."""
    return all(math.isfinite(v) for v in (fig.psnr_db, fig.temporal, fig.noaa_psnr_db, fig.noaa_temporal))
