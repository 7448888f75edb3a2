"""The training loop: stages (FP32, then 4-bit QAT), atomic checkpoints, exact resume, CSV logs, DDP.

A run lives in one folder (``runs/<name>`` by default)::

    config.json        the training config of the (latest) launch
    checkpoint.pt      rolling checkpoint (every ``checkpoint_every`` steps, at evaluations, stage ends)
    stage_<name>.pt    final weights of each finished stage, with its validation figures (export input;
                       checkpoint.pt can be exported too, labelled with its step and last figures)
    train.csv          one row per step: loss terms, learning rate, seconds
    eval.csv           one row per evaluation: validation PSNR / temporal error, model and no-AA input

Determinism: the model is initialised from ``seed``; the batch of step ``s`` is drawn from
``numpy.random.default_rng([seed, s])``; the learning rate is a function of the step. Nothing else is
random, so a resumed run repeats the uninterrupted one exactly (same thread count, same machine).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from qwplugin.data.dataset import SequenceDataset, collate, to_tensors
from qwplugin.errors import InvalidArgument
from qwplugin.model.build import build_model
from qwplugin.model.config import ModelConfig
from qwplugin.ops.colour import to_network
from qwplugin.quant.switch import set_quantized
from qwplugin.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from qwplugin.train.config import OptimizerConfig, TrainConfig
from qwplugin.train.csvlog import CsvLog
from qwplugin.train.ddp import DistInfo, barrier, init_distributed, shutdown, wrap_model
from qwplugin.train.evaluate import evaluate
from qwplugin.train.loss import qwnet_loss
from qwplugin.train.quant_init import calibrate_activation_ranges, set_quant_params_trainable
from qwplugin.train.recurrence import SequenceRunner

CHECKPOINT_FORMAT = "qwplugin-train-checkpoint/1"
TRAIN_COLUMNS = ["step", "stage", "lr", "loss", "spatial", "temporal", "logit_sq", "seconds"]
EVAL_COLUMNS = ["step", "stage", "val_loss", "val_psnr_db", "val_temporal", "noaa_psnr_db", "noaa_temporal",
                "train_seconds"]


def model_config_from(spec: dict[str, Any]) -> ModelConfig:
    """``{"preset": name, **overrides}`` or a full :meth:`ModelConfig.to_dict` dict to a config."""
    spec = dict(spec)
    preset = spec.pop("preset", None)
    return ModelConfig.preset(preset, **spec) if preset else ModelConfig.from_dict(spec)


def make_optimizer(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    """Ranger (RAdam + Lookahead, ``pytorch-ranger``) as in the released code, or Adam."""
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    from pytorch_ranger import Ranger

    return Ranger(params, lr=lr, alpha=cfg.alpha, k=cfg.k, betas=cfg.betas, eps=cfg.eps,
                  weight_decay=cfg.weight_decay)


def _val_blocks(cfg: TrainConfig) -> list[dict[str, torch.Tensor]]:
    ds = SequenceDataset(cfg.data.root, "val", limit=cfg.data.val_sequences)
    return [to_tensors(ds.block(i)) for i in range(len(ds))]


class Trainer:
    """One training run (see the module docstring). Use :func:`train` unless you need the pieces.

    Args:
        config: the run's :class:`TrainConfig`.
        out_dir: run folder (default ``runs/<config.name>``).
        device: "cpu", "cuda" or "auto".
        progress: show a tqdm bar (rank 0 only).
    """

    def __init__(self, config: TrainConfig, out_dir: str | Path | None = None, device: str = "auto",
                 progress: bool = True):
        self.cfg = config
        self.out = Path(out_dir) if out_dir is not None else Path("runs") / config.name
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.progress = progress
        self.info: DistInfo = DistInfo()
        self.model_config = model_config_from(config.model)
        self._logit_sq: list[torch.Tensor] = []
        self._collect_logits = False

    def _watch_kernel_logits(self) -> None:
        """Record ``mean(logit**2)`` of every kernel-predicting 1x1 conv while a training step runs."""
        filt = getattr(self.model, "filter", None)
        if filt is None:
            return
        for conv in list(filt.down.values()) + list(filt.up.values()):
            conv.register_forward_hook(lambda _m, _i, out: self._logit_sq.append(out.float().pow(2).mean())
                                       if self._collect_logits else None)

    def _kernel_logit_term(self) -> torch.Tensor:
        terms, self._logit_sq = self._logit_sq, []
        return torch.stack(terms).mean() if terms else torch.zeros(())

    # -- state -----------------------------------------------------------------------------------
    def _checkpoint_state(self, step: int, stage_index: int, optimizer, train_seconds: float,
                          figures: dict) -> dict:
        stage = self.cfg.stages[stage_index]
        return {"format": CHECKPOINT_FORMAT, "step": step, "stage_index": stage_index, "stage": stage.name,
                "quantized": stage.quantized, "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                "model_config": self.model_config.to_dict(), "train_config": json.dumps(self.cfg.to_dict()),
                "train_seconds": train_seconds, "figures": json.dumps(figures)}

    def _save_stage(self, stage_index: int, step: int, figures: dict) -> None:
        stage = self.cfg.stages[stage_index]
        save_checkpoint(self.out / f"stage_{stage.name}.pt", {
            "format": CHECKPOINT_FORMAT, "stage": stage.name, "quantized": stage.quantized, "step": step,
            "model": self.model.state_dict(), "model_config": self.model_config.to_dict(),
            "train_config": json.dumps(self.cfg.to_dict()), "figures": json.dumps(figures)})

    # -- run -------------------------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train until the last stage ends, or stop abruptly at global step ``stop_after``.

        ``stop_after`` behaves like a kill after that step: no checkpoint is written at the stop, so a
        resumed run restarts from the last periodic checkpoint (tests use this; so can a time budget).

        Returns:
            {"step", "out_dir", "figures" (last evaluation, may be empty)}.

        Raises:
            InvalidArgument: the run folder's checkpoint belongs to a different model configuration,
                or ``batch_size`` is not divisible by the number of processes.
        """
        cfg, info = self.cfg, init_distributed()
        self.info = info
        if cfg.batch_size % info.world_size:
            raise InvalidArgument("batch_size must be divisible by the number of processes", field="batch_size",
                                  expected=f"a multiple of {info.world_size}", actual=str(cfg.batch_size))
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.model_config).to(self.device)
        self.model.train()
        self._watch_kernel_logits()

        ckpt = load_checkpoint(self.out / CHECKPOINT_NAME)
        step, opt_state, ckpt_stage, train_seconds, figures = 0, None, -1, 0.0, {}
        if ckpt is not None:
            if ckpt.get("model_config") != self.model_config.to_dict():
                raise InvalidArgument(f"{self.out} holds a run of a different model; use another --out",
                                      field="model", expected=str(ckpt.get("model_config")),
                                      actual=str(self.model_config.to_dict()))
            self.model.load_state_dict(ckpt["model"])
            step, opt_state, ckpt_stage = int(ckpt["step"]), ckpt["optimizer"], int(ckpt["stage_index"])
            train_seconds = float(ckpt.get("train_seconds", 0.0))
            figures = json.loads(ckpt.get("figures", "{}"))

        total = cfg.total_steps
        end = total if stop_after is None else min(total, stop_after)
        train_ds = SequenceDataset(cfg.data.root, "train", crop=cfg.data.crop, frames=cfg.data.frames,
                                   flips=cfg.data.flips, exposure_log2_range=cfg.data.exposure_log2_range,
                                   seed=cfg.seed)
        if info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
            train_log = CsvLog(self.out / "train.csv", TRAIN_COLUMNS)
            eval_log = CsvLog(self.out / "eval.csv", EVAL_COLUMNS)
            train_log.truncate_after(step)
            eval_log.truncate_after(step)
            val_blocks = _val_blocks(cfg)
        bar = tqdm(total=total, initial=step, desc=cfg.name, unit="step", dynamic_ncols=True,
                   disable=not (self.progress and info.is_main))
        stage_index, optimizer, runner = -1, None, None
        try:
            while step < end:
                si, s_in = cfg.stage_at(step)
                stage = cfg.stages[si]
                if si != stage_index:
                    optimizer, runner = self._enter_stage(si, step, train_ds, opt_state if ckpt_stage == si else None)
                    opt_state, stage_index = None, si
                t0 = time.perf_counter()
                lr = stage.lr_at(s_in)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = self._batch(train_ds, step)
                self._logit_sq, self._collect_logits = [], True
                out = runner(batch["color"], batch["motion_px"], batch["resets"], batch["depth"])
                self._collect_logits = False
                logit_sq = self._kernel_logit_term()
                terms = qwnet_loss(out, to_network(batch["reference"]), batch["motion_px"], batch["resets"],
                                   cfg.spatial_weight)
                total = terms.total + cfg.kernel_logit_penalty * logit_sq if cfg.kernel_logit_penalty \
                    else terms.total
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                if cfg.optimizer.grad_clip:
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optimizer.grad_clip)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # pytorch-ranger uses deprecated overloads
                    optimizer.step()
                step += 1
                logged = self._reduce([terms.total.detach(), terms.spatial.detach(), terms.temporal.detach(),
                                       logit_sq.detach()])
                seconds = time.perf_counter() - t0
                train_seconds += seconds
                stage_end = step == cfg.stage_start(si) + stage.steps
                do_eval = step % cfg.eval_every == 0 or stage_end
                do_ckpt = step % cfg.checkpoint_every == 0 or do_eval
                if info.is_main:
                    train_log.append({"step": step, "stage": stage.name, "lr": lr, "loss": logged[0],
                                      "spatial": logged[1], "temporal": logged[2], "logit_sq": logged[3],
                                      "seconds": seconds})
                    if do_eval:
                        fig = evaluate(self.model, val_blocks, cfg.spatial_weight)
                        figures = {**fig.to_dict(), "step": step, "stage": stage.name}
                        eval_log.append({**figures, "train_seconds": train_seconds})
                        bar.write(f"step {step} [{stage.name}] val PSNR {fig.psnr_db:.2f} dB "
                                  f"(no-AA {fig.noaa_psnr_db:.2f}), temporal {fig.temporal:.4f} "
                                  f"(no-AA {fig.noaa_temporal:.4f})")
                    if stage_end:
                        self._save_stage(si, step, figures)
                    if do_ckpt:
                        save_checkpoint(self.out / CHECKPOINT_NAME,
                                        self._checkpoint_state(step, si, optimizer, train_seconds, figures))
                barrier(info)
                bar.set_postfix(loss=f"{logged[0]:.4f}", lr=f"{lr:.2e}", stage=stage.name)
                bar.update(1)
        finally:
            bar.close()
            shutdown(info)
        return {"step": step, "out_dir": str(self.out), "figures": figures}

    def _enter_stage(self, si: int, step: int, train_ds: SequenceDataset, opt_state):
        stage = self.cfg.stages[si]
        fresh = opt_state is None
        set_quantized(self.model, False)
        set_quant_params_trainable(self.model, stage.quantized)
        if stage.quantized and fresh and step == self.cfg.stage_start(si):
            # First step of a QAT stage (not a resume inside it): calibrate clipping ranges on this
            # step's batch in FP32 before switching the quantizers on.
            batch = self._batch(train_ds, step, whole=True)
            calibrate_activation_ranges(self.model, lambda: SequenceRunner(self.model)(
                batch["color"], batch["motion_px"], batch["resets"], batch["depth"]))
        set_quantized(self.model, stage.quantized)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = make_optimizer(params, self.cfg.optimizer, stage.lr)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        runner = wrap_model(SequenceRunner(self.model), self.info)
        return optimizer, runner

    def _batch(self, ds: SequenceDataset, step: int, whole: bool = False) -> dict[str, torch.Tensor]:
        """The global batch of ``step`` (every rank draws it), this rank's slice unless ``whole``."""
        rng = np.random.default_rng([self.cfg.seed, step])
        items = [ds.sample(rng) for _ in range(self.cfg.batch_size)]
        mine = items if whole else items[self.info.rank::self.info.world_size]
        return {k: v.to(self.device) for k, v in collate(mine).items()}

    def _reduce(self, values: list[torch.Tensor]) -> list[float]:
        """Mean over ranks of scalar tensors (for logging)."""
        v = torch.stack([x.float().cpu() for x in values])
        if self.info.distributed:
            torch.distributed.all_reduce(v)
            v /= self.info.world_size
        return [float(x) for x in v]


def train(config: TrainConfig, out_dir: str | Path | None = None, device: str = "auto", progress: bool = True,
          stop_after: int | None = None) -> dict[str, Any]:
    """Train (or resume) a run; see :class:`Trainer` and the module docstring.

    Returns:
        {"step", "out_dir", "figures"}.
    """
    return Trainer(config, out_dir, device, progress).run(stop_after=stop_after)
