"""Train AsConvSR on the project's dataset format.

``python -m qwplugin.sr.train --data data/train_v2 --out runs/asconvsr_x2``

Two setups (``--degradation``):

- ``area`` (the default, any dataset): the high-resolution target is the 64-spp reference of a training
  frame; the low-resolution input is that reference **area-downsampled** by the scale (the mean of each
  ``s x s`` block, in linear HDR), both then mapped to the network domain ``x / (1 + x)``
  (:mod:`qwplugin.ops.colour`). The standard bicubic/area-degradation SR setup (DIV2K, NTIRE): a clean,
  band-limited input.
- ``render`` (an upscaling dataset, e.g. ``data/train_up2`` rendered with ``--scale performance``): the
  input is the frame's own **aliased, jittered render** at the render size (1 sample per pixel, the mip bias
  of upscaling), the target its reference at the display size: the task of "no-AA, then a spatial
  upscaler" in the product. ``--crop`` is the display crop; the scale must be the dataset's.

Per step: ``batch`` reference crops of ``crop`` pixels (random sequence, frame, crop and flips, all drawn
from ``default_rng([seed, step])``, so a resumed run sees the same batches), L1 loss (or MSE), Adam, cosine
learning rate to ``lr * final_lr_ratio``. Validation (every ``val_every`` steps and at the end) on the
dataset's validation split only: whole frames at evenly spaced times of each sequence, PSNR in the
network domain (peak 1) of the model, bicubic and nearest upsampling.

Outputs in ``--out``: ``checkpoint.pt`` (atomic, rolling: model, optimiser, step, config, validation
history; a run restarted with the same arguments resumes from it), ``train.csv`` (per-step loss and
validation rows) and at the end ``asconvsr_x<s>.safetensors`` (weights + JSON metadata: format, config,
steps, validation).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from qwplugin.data.dataset import SequenceDataset
from qwplugin.cli import command, prog_name
from qwplugin.errors import InvalidArgument
from qwplugin.ops.colour import to_network
from qwplugin.sr.asconvsr import UNSHUFFLE, AsConvSR, AsConvSRConfig
from qwplugin.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from qwplugin.train.csvlog import CsvLog

from qwplugin.sr.shipped import WEIGHTS_FORMAT, WEIGHTS_VERSION, load_asconvsr  # noqa: F401  (re-exported)
LOSSES = ("l1", "mse")
DEGRADATIONS = ("area", "render")
"""How the low-resolution input is made (module docstring)."""
RESUMABLE_FIELDS = ("steps", "val_every", "checkpoint_every")
"""Config fields a resumed run may change; every other field must match the checkpoint's."""


@dataclass(frozen=True)
class SrTrainConfig:
    """Arguments of :func:`train_asconvsr` (also the CLI flags, with ``-`` for ``_``).

    Attributes:
        data: dataset folder (``index.json``).
        scale: upscaling factor.
        channels, bases: AsConvSR width C and basis count E.
        steps: optimiser steps in total.
        batch: crops per step.
        crop: high-resolution crop size in pixels (a multiple of ``2 * scale``).
        lr: Adam learning rate at step 0; cosine to ``lr * final_lr_ratio``.
        final_lr_ratio: the last step's learning rate over ``lr``.
        seed: model initialisation and batch draws.
        val_every: validate every this many steps (0: only at the end).
        checkpoint_every: write the rolling checkpoint every this many steps (and at the end).
        val_sequences: validate on at most this many validation sequences (None: all).
        val_frames: frames per validation sequence (evenly spaced).
        train_limit: use at most this many training sequences (None: all).
        loss: "l1" (the SR standard, the default) or "mse" (a stronger push away from the nearest-upsampling
            start on high-frequency content; see docs/sr_methods.md).
    """

    data: str = "data/train_v2"
    scale: int = 2
    channels: int = 32
    bases: int = 3
    steps: int = 20000
    batch: int = 16
    crop: int = 96
    lr: float = 5e-4
    final_lr_ratio: float = 0.01
    seed: int = 0
    val_every: int = 1000
    checkpoint_every: int = 200
    val_sequences: int | None = None
    val_frames: int = 4
    train_limit: int | None = None
    loss: str = "l1"
    degradation: str = "area"

    def validate(self) -> None:
        """Raises InvalidArgument on an out-of-range value."""
        for name in ("scale", "steps", "batch", "crop", "val_frames", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"{name} must be >= 1", field=name, expected=">= 1", actual=repr(getattr(self, name)))
        if self.crop % (UNSHUFFLE * self.scale):
            raise InvalidArgument("crop must be a multiple of 2 * scale", field="crop",
                                  expected=f"multiple of {UNSHUFFLE * self.scale}", actual=str(self.crop))
        if not self.lr > 0 or not 0 < self.final_lr_ratio <= 1:
            raise InvalidArgument("lr must be > 0 and final_lr_ratio in (0, 1]", field="lr",
                                  expected="lr > 0, 0 < ratio <= 1", actual=f"{self.lr}, {self.final_lr_ratio}")
        if self.degradation not in DEGRADATIONS:
            raise InvalidArgument("unknown degradation", field="degradation", expected=" / ".join(DEGRADATIONS),
                                  actual=repr(self.degradation))
        if self.loss not in LOSSES:
            raise InvalidArgument("unknown loss", field="loss", expected=" / ".join(LOSSES), actual=repr(self.loss))
        if self.val_every < 0:
            raise InvalidArgument("val_every must be >= 0", field="val_every", expected=">= 0", actual=str(self.val_every))

    def model_config(self) -> AsConvSRConfig:
        return AsConvSRConfig(scale=self.scale, channels=self.channels, bases=self.bases)

    def lr_at(self, step: int) -> float:
        """Cosine schedule from ``lr`` at step 0 to ``lr * final_lr_ratio`` at the last step."""
        t = step / max(1, self.steps - 1)
        lo = self.lr * self.final_lr_ratio
        return lo + 0.5 * (self.lr - lo) * (1.0 + math.cos(math.pi * t))


def degrade(reference: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(low-resolution input, high-resolution target) in the network domain from a linear HDR reference.

    Args:
        reference: (N, 3, H, W) linear HDR, H and W multiples of ``scale`` (the caller crops).

    Returns:
        (N, 3, H / scale, W / scale) area-downsampled input and (N, 3, H, W) target, both ``x / (1 + x)``.
    """
    assert reference.shape[2] % scale == 0 and reference.shape[3] % scale == 0
    return to_network(F.avg_pool2d(reference, scale)), to_network(reference)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB for peak 1 (network domain)."""
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def _batch(ds: SequenceDataset, cfg: SrTrainConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(low-resolution input, target) of one step, network domain (:func:`degrade` for ``area``; the render
    and its reference for ``render``)."""
    rng = np.random.default_rng([cfg.seed, step])
    samples = [ds.sample(rng) for _ in range(cfg.batch)]
    if cfg.degradation == "area":
        return degrade(torch.stack([s["reference"][0] for s in samples]), cfg.scale)
    return (to_network(torch.stack([s["color"][0] for s in samples])),
            to_network(torch.stack([s["reference"][0] for s in samples])))


def check_render_scale(ds: SequenceDataset, scale: int) -> None:
    """``degradation="render"`` needs an upscaling dataset of exactly ``scale``.

    Raises:
        InvalidArgument: field ``scale`` (or ``data`` for a dataset whose references are the render size).
    """
    block = ds.block(0)
    (h, w), (hd, wd) = block["color"].shape[1:3], block["reference"].shape[1:3]
    if (hd, wd) == (h, w):
        raise InvalidArgument("degradation 'render' needs an upscaling dataset (references at the display size)",
                              field="data", expected="a dataset rendered with --scale / --display-size",
                              actual=f"render = reference size {w}x{h}")
    if (hd, wd) != (h * scale, w * scale):
        raise InvalidArgument("the dataset's scale is not --scale", field="scale",
                              expected=f"display {w * scale}x{h * scale} for render {w}x{h}",
                              actual=f"display {wd}x{hd}")


@torch.no_grad()
def validate(net: AsConvSR, ds: SequenceDataset, scale: int, frames: int, sequences: int | None = None,
             degradation: str = "area") -> dict:
    """Mean PSNR (network domain) over validation frames of the model, bicubic and nearest upsampling, on the
    inputs of ``degradation`` (area-downsampled references, or the renders of an upscaling dataset).

    Returns:
        {"psnr", "bicubic_psnr", "nearest_psnr", "frames"}.
    """
    net.eval()
    sums = {"psnr": 0.0, "bicubic_psnr": 0.0, "nearest_psnr": 0.0}
    count = 0
    m = UNSHUFFLE * scale
    for i in range(len(ds) if sequences is None else min(sequences, len(ds))):
        block = ds.block(i)
        ref_all = block["reference"]  # (T, H, W, 3)
        idx = np.unique(np.linspace(0, len(ref_all) - 1, frames).round().astype(int))
        ref = torch.from_numpy(np.ascontiguousarray(ref_all[idx], dtype=np.float32)).permute(0, 3, 1, 2)
        if degradation == "render":
            low = torch.from_numpy(np.ascontiguousarray(block["color"][idx], dtype=np.float32)).permute(0, 3, 1, 2)
            hl, wl = low.shape[2] // UNSHUFFLE * UNSHUFFLE, low.shape[3] // UNSHUFFLE * UNSHUFFLE
            lr_img, hr = to_network(low[:, :, :hl, :wl]), to_network(ref[:, :, :hl * scale, :wl * scale])
        else:
            ref = ref[:, :, :ref.shape[2] // m * m, :ref.shape[3] // m * m]
            lr_img, hr = degrade(ref, scale)
        outs = {"psnr": net(lr_img).clamp(0, 1),
                "bicubic_psnr": F.interpolate(lr_img, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1),
                "nearest_psnr": lr_img.repeat_interleave(scale, 2).repeat_interleave(scale, 3)}
        for j in range(len(idx)):
            for key, out in outs.items():
                sums[key] += psnr(out[j], hr[j])
            count += 1
    net.train()
    return {**{k: v / count for k, v in sums.items()}, "frames": count}


def _weights_metadata(cfg: SrTrainConfig, step: int, val: dict | None) -> dict[str, str]:
    return {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "model": "asconvsr",
            "config": json.dumps(cfg.model_config().to_dict()), "train": json.dumps(asdict(cfg)),
            "steps": str(step), "validation": json.dumps(val or {}),
            "degradation": ("area downsampling of the 64-spp reference" if cfg.degradation == "area" else
                            "the dataset's aliased jittered render (1 spp) against its display-size reference")
                           + "; network domain x/(1+x)"}


def train_asconvsr(cfg: SrTrainConfig, out: str | os.PathLike, progress: bool = True,
                   stop_after: int | None = None) -> dict:
    """Train (or resume) AsConvSR; see the module docstring.

    Args:
        cfg: the run's arguments.
        out: run folder.
        progress: tqdm bar.
        stop_after: return after this many steps in total (simulates a kill; no final export).

    Returns:
        {"step", "loss", "val"}: steps done, the last step's loss, the last validation (or None).

    Raises:
        InvalidArgument: bad config, dataset, or a checkpoint written with different arguments.
    """
    cfg.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    render = cfg.degradation == "render"
    train_ds = SequenceDataset(cfg.data, "train", crop=cfg.crop // cfg.scale if render else cfg.crop, frames=1,
                               flips=True, seed=cfg.seed, limit=cfg.train_limit)
    val_ds = SequenceDataset(cfg.data, "val", limit=cfg.val_sequences)
    if render:
        check_render_scale(train_ds, cfg.scale)
    torch.manual_seed(cfg.seed)
    net = AsConvSR(cfg.model_config())
    optim = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    log = CsvLog(out / "train.csv", ["step", "loss", "lr", "val_psnr", "bicubic_psnr", "nearest_psnr"])
    step, val_history = 0, []
    state = load_checkpoint(out / CHECKPOINT_NAME)
    if state is not None:
        saved = state["config"]
        mine = asdict(cfg)
        diff = {k for k in mine if k not in RESUMABLE_FIELDS and saved.get(k, getattr(SrTrainConfig(), k)) != mine[k]}
        if diff:
            raise InvalidArgument("the run folder holds a checkpoint of other arguments", field=sorted(diff)[0],
                                  expected=str({k: saved.get(k) for k in sorted(diff)}),
                                  actual=str({k: mine[k] for k in sorted(diff)}))
        net.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        step, val_history = int(state["step"]), list(state["val_history"])
    log.truncate_after(step - 1)

    def checkpoint(done: int) -> None:
        save_checkpoint(out / CHECKPOINT_NAME, {"step": done, "model": net.state_dict(), "optim": optim.state_dict(),
                                                "config": asdict(cfg), "val_history": val_history})

    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    loss_value = float("nan")
    bar = tqdm(total=cfg.steps, initial=step, desc="asconvsr", unit="step", disable=not progress)
    net.train()
    while step < end:
        lr_now = cfg.lr_at(step)
        for group in optim.param_groups:
            group["lr"] = lr_now
        lr_img, hr = _batch(train_ds, cfg, step)
        err = net(lr_img) - hr
        loss = err.abs().mean() if cfg.loss == "l1" else err.square().mean()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        loss_value = float(loss.detach())
        row = {"step": step, "loss": loss_value, "lr": lr_now}
        step += 1
        if (cfg.val_every and step % cfg.val_every == 0) or step == cfg.steps:
            val = validate(net, val_ds, cfg.scale, cfg.val_frames, degradation=cfg.degradation)
            val_history.append({"step": step, **val})
            row.update(val_psnr=val["psnr"], bicubic_psnr=val["bicubic_psnr"], nearest_psnr=val["nearest_psnr"])
            bar.set_postfix(loss=f"{loss_value:.4f}", val=f"{val['psnr']:.2f}", bicubic=f"{val['bicubic_psnr']:.2f}")
        else:
            bar.set_postfix(loss=f"{loss_value:.4f}")
        log.append(row)
        if step % cfg.checkpoint_every == 0 or step == end:
            checkpoint(step)
        bar.update(1)
    bar.close()
    val = val_history[-1] if val_history else None
    if step >= cfg.steps:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()},
                  str(out / f"asconvsr_x{cfg.scale}.safetensors"), metadata=_weights_metadata(cfg, step, val))
    return {"step": step, "loss": loss_value, "val": val}


@command("qw-train-sr")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog_name("qw-train-sr", "qwplugin.sr.train"), description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="run folder (resumed when it holds a checkpoint)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    defaults = SrTrainConfig()
    for f in fields(SrTrainConfig):
        default = getattr(defaults, f.name)
        kind = type(default) if default is not None else int
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=default)
    args = parser.parse_args(argv)
    cfg = replace(defaults, **{f.name: getattr(args, f.name) for f in fields(SrTrainConfig)})
    try:
        result = train_asconvsr(cfg, args.out, progress=not args.no_progress)
    except InvalidArgument as exc:
        parser.error(str(exc))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
