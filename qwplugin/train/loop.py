"""The training loop: stages (FP32, then 4-bit QAT), atomic checkpoints, exact resume, CSV logs, DDP.

A run lives in one folder (``runs/<name>`` by default)::

    config.json        the training config of the (latest) launch
    checkpoint.pt      rolling checkpoint (every ``checkpoint_every`` steps or ``checkpoint_minutes``, at
                       evaluations, stage ends and a time-budget stop)
    stage_<name>.pt    final weights of each finished stage (raw and, with ``ema_decay``, the EMA), with
                       its validation figures (export input; checkpoint.pt can be exported too, labelled
                       with its step and last figures)
    train.csv          one row per step: stage, window index, learning rate, loss terms, seconds
    eval.csv           one row per evaluation: validation loss, PSNR, temporal error (and LDR-FLIP with
                       ``eval_flip``) of the model (EMA weights when on) and of the no-AA input, against
                       steps, training seconds and wall hours (the curves, ``scripts/plot_training.py``)

Truncated backpropagation through time (``data.chunks`` = K > 1): the sample of step ``s`` spans
``K * frames`` frames; steps ``e, e+1, ..., e+K-1`` of one *episode* train on its K consecutive windows, each
starting from the previous window's last output (detached), then the next episode draws new samples.
Episodes restart at every stage start.

Determinism and exact resume: the model is initialised from ``seed``; the samples of the episode that
starts at global step ``e`` are drawn from ``numpy.random.default_rng([seed, e])`` (so with K = 1 the batch
of step ``s`` comes from ``default_rng([seed, s])``); the learning rate is a function of the step. A
checkpoint holds the model, the optimizer, the EMA, the step (which fixes the schedule and the data
order), the figures and the torch / numpy / Python RNG states, and is written only where an episode
ends, so no carried history has to be saved. A resumed run therefore repeats the uninterrupted one bit for
bit (same thread count, same machine; tested).
"""

from __future__ import annotations

import json
import random
import time
import warnings
from contextlib import nullcontext
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
from qwplugin.model.display import displayed_nw
from qwplugin.model.upscale_input import display_motion
from qwplugin.ops.colour import to_network
from qwplugin.quant.switch import set_quantized
from qwplugin.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from qwplugin.train.config import OptimizerConfig, TrainConfig
from qwplugin.train.csvlog import CsvLog
from qwplugin.train.ddp import DistInfo, barrier, init_distributed, shutdown, wrap_model
from qwplugin.train.ema import WeightEMA
from qwplugin.train.evaluate import evaluate, flip_available
from qwplugin.train.loss import qwnet_loss
from qwplugin.train.quant_init import calibrate_activation_ranges, set_quant_params_trainable
from qwplugin.train.recurrence import SequenceRunner

CHECKPOINT_FORMAT = "qwplugin-train-checkpoint/2"
"""Version 2 adds the EMA, RNG states, wall time and data-order record; version-1 checkpoints resume (the
EMA then restarts from the checkpoint's weights)."""
TRAIN_COLUMNS = ["step", "stage", "chunk", "lr", "loss", "spatial", "temporal", "logit_sq", "seconds"]
EVAL_COLUMNS = ["step", "stage", "weights", "val_loss", "val_psnr_db", "val_temporal", "val_flip", "noaa_psnr_db",
                "noaa_temporal", "train_seconds", "wall_hours"]
BLOCK_KEYS = ("color", "reference", "motion_px", "depth", "resets", "jitter_px")  # jitter: upscaling only


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


def rng_states() -> dict[str, Any]:
    """The global torch (CPU and CUDA), numpy and Python RNG states, in a form ``torch.load(weights_only=True)``
    reads back (tensors, ints, floats, lists)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, mt, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"name": name, "keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": {"version": version, "state": list(mt), "gauss_next": gauss_next}}


def restore_rng_states(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_states` (CUDA states only when CUDA is available and they were saved)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


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
        self.ema: WeightEMA | None = None
        self._logit_sq: list[tuple[str, torch.Tensor]] = []
        self._collect_logits = False

    def _watch_kernel_logits(self) -> None:
        """Record ``mean(logit**2)`` of every kernel-predicting 1x1 conv while a training step runs."""
        filt = getattr(self.model, "filter", None)
        if filt is None:
            return
        for name, conv in list(filt.down.items()) + list(filt.up.items()):
            conv.register_forward_hook(
                lambda _m, _i, out, name=name: self._logit_sq.append((name, out.float().pow(2).mean()))
                if self._collect_logits else None)

    def _kernel_logit_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean logit**2 over every stage, for the log; the same over the penalised stages, for the loss)."""
        terms, self._logit_sq = self._logit_sq, []
        if not terms:
            return torch.zeros(()), torch.zeros(())
        chosen = self.cfg.kernel_logit_penalty_stages
        picked = [v for n, v in terms if chosen is None or n in chosen]
        logged = torch.stack([v for _, v in terms]).mean()
        return logged, torch.stack(picked).mean() if picked else torch.zeros(())

    # -- state -----------------------------------------------------------------------------------
    def _weights_record(self) -> dict:
        """The EMA's model state and counters (empty without EMA), as stored in checkpoints and stage files."""
        if self.ema is None:
            return {}
        return {"ema_model": self.ema.model_state(self.model), "ema_updates": self.ema.updates,
                "ema_decay": self.ema.decay}

    def _checkpoint_state(self, step: int, stage_index: int, optimizer, train_seconds: float, wall_seconds: float,
                          figures: dict) -> dict:
        stage = self.cfg.stages[stage_index]
        s_in = step - self.cfg.stage_start(stage_index)
        return {"format": CHECKPOINT_FORMAT, "step": step, "stage_index": stage_index, "stage": stage.name,
                "quantized": stage.quantized, "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                "model_config": self.model_config.to_dict(), "train_config": json.dumps(self.cfg.to_dict()),
                "train_seconds": train_seconds, "wall_seconds": wall_seconds, "figures": json.dumps(figures),
                "rng": rng_states(), **self._weights_record(),
                # The schedule and the data order are functions of the step; recorded for the reader.
                "scheduler": {"stage": stage.name, "schedule": stage.schedule, "step_in_stage": s_in,
                              "next_lr": stage.lr_at(s_in) if s_in < stage.steps else None},
                "data_order": {"rule": "episode starting at global step e: samples from "
                                       "numpy.random.default_rng([seed, e])", "seed": self.cfg.seed,
                               "frames": self.cfg.data.frames, "chunks": self.cfg.data.chunks,
                               "next_episode_step": step}}

    def _save_stage(self, stage_index: int, step: int, figures: dict) -> None:
        stage = self.cfg.stages[stage_index]
        save_checkpoint(self.out / f"stage_{stage.name}.pt", {
            "format": CHECKPOINT_FORMAT, "stage": stage.name, "quantized": stage.quantized, "step": step,
            "model": self.model.state_dict(), "model_config": self.model_config.to_dict(),
            "train_config": json.dumps(self.cfg.to_dict()), "figures": json.dumps(figures),
            **self._weights_record()})

    def _restore_ema(self, ckpt: dict) -> None:
        if not self.cfg.ema_decay:
            self.ema = None
            return
        self.ema = WeightEMA(self.model, self.cfg.ema_decay)
        if "ema_model" in ckpt:  # else (a checkpoint written without EMA) the average restarts here
            self.ema.load_state_dict({"shadow": {k: ckpt["ema_model"][k] for k in self.ema.shadow},
                                      "updates": ckpt.get("ema_updates", 0)})

    # -- run -------------------------------------------------------------------------------------
    def run(self, stop_after: int | None = None, time_budget_s: float | None = None) -> dict[str, Any]:
        """Train until the last stage ends, stop abruptly at global step ``stop_after``, or stop cleanly
        once ``time_budget_s`` seconds of wall time have passed.

        ``stop_after`` behaves like a kill after that step: no checkpoint is written at the stop, so a
        resumed run restarts from the last periodic checkpoint (tests use this). ``time_budget_s`` stops at
        the first episode end after the budget, evaluates (unless that step just did) and checkpoints, so
        ``checkpoint.pt`` holds the figures of the weights it holds (exportable).

        Returns:
            {"step", "out_dir", "figures" (last evaluation, may be empty), "stopped" ("done",
            "stop_after" or "time_budget")}.

        Raises:
            InvalidArgument: the run folder's checkpoint belongs to a different model configuration,
                ``batch_size`` is not divisible by the number of processes, or a bad time budget.
        """
        cfg, info = self.cfg, init_distributed()
        self.info = info
        if cfg.batch_size % info.world_size:
            raise InvalidArgument("batch_size must be divisible by the number of processes", field="batch_size",
                                  expected=f"a multiple of {info.world_size}", actual=str(cfg.batch_size))
        if time_budget_s is not None and not time_budget_s > 0:
            raise InvalidArgument("time budget must be > 0 seconds", field="time_budget_s", expected="> 0",
                                  actual=repr(time_budget_s))
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.model_config).to(self.device)
        self.model.train()
        self._watch_kernel_logits()

        step, opt_state, ckpt_stage, train_seconds, wall_seconds, figures = self._resume()

        total = cfg.total_steps
        end = total if stop_after is None else min(total, stop_after)
        train_ds = SequenceDataset(cfg.data.root, "train", crop=cfg.data.crop, frames=cfg.sample_frames,
                                   flips=cfg.data.flips, exposure_log2_range=cfg.data.exposure_log2_range,
                                   seed=cfg.seed)
        use_flip = cfg.eval_flip and flip_available()
        if info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
            train_log = CsvLog(self.out / "train.csv", TRAIN_COLUMNS)
            eval_log = CsvLog(self.out / "eval.csv", EVAL_COLUMNS)
            train_log.truncate_after(step)
            eval_log.truncate_after(step)
            val_blocks = _val_blocks(cfg)
            if cfg.eval_flip and not use_flip:
                tqdm.write("note: eval_flip is on but flip-evaluator is not installed; val_flip stays empty")
        train_ds.preload(progress=self.progress and info.is_main)
        if info.is_main and step < end:
            coverage = {p: c for p, c in train_ds.phase_coverage().items() if p >= 0}
            tqdm.write(f"training windows of {cfg.sample_frames or 'whole'} frames can start at "
                       f"{len(coverage)}/16 Halton jitter phases")
        bar = tqdm(total=total, initial=step, desc=cfg.name, unit="step", dynamic_ncols=True,
                   disable=not (self.progress and info.is_main))
        t_launch = last_ckpt = time.perf_counter()
        chunks = cfg.data.chunks
        stage_index, optimizer, runner = -1, None, None
        episode: tuple[int, dict[str, torch.Tensor]] | None = None
        carry: tuple[torch.Tensor, torch.Tensor] | None = None  # (last output, last reference), detached
        pending_ckpt, stopped = False, "done"
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
                chunk = s_in % chunks
                if episode is None or episode[0] != step - chunk:
                    assert chunk == 0, "checkpoints are written at episode ends only"
                    episode, carry = (step, self._batch(train_ds, step)), None
                batch = self._window(episode[1], chunk)
                out, ref_nw, terms, logit_sq = self._optimizer_step(runner, optimizer, batch, carry)
                step += 1
                stage_end = step == cfg.stage_start(si) + stage.steps
                episode_end = chunk == chunks - 1 or stage_end
                if episode_end:
                    episode, carry = None, None
                else:
                    carry = (out[:, -1].detach(), ref_nw[:, -1].detach())
                logged = self._reduce([terms.total.detach(), terms.spatial.detach(), terms.temporal.detach(),
                                       logit_sq.detach()])
                now = time.perf_counter()
                seconds = now - t0
                train_seconds += seconds
                over_budget = time_budget_s is not None and self._any(now - t_launch >= time_budget_s)
                stop_now = over_budget and episode_end and step < end
                do_eval = step % cfg.eval_every == 0 or stage_end or stop_now
                pending_ckpt = pending_ckpt or do_eval or step % cfg.checkpoint_every == 0 or bool(
                    cfg.checkpoint_minutes and now - last_ckpt >= 60.0 * cfg.checkpoint_minutes)
                if info.is_main:
                    train_log.append({"step": step, "stage": stage.name, "chunk": chunk, "lr": lr,
                                      "loss": logged[0], "spatial": logged[1], "temporal": logged[2],
                                      "logit_sq": logged[3], "seconds": seconds})
                    if do_eval:
                        figures = self._evaluate(val_blocks, use_flip, step, stage.name, eval_log, bar,
                                                 train_seconds, wall_seconds + time.perf_counter() - t_launch)
                    if stage_end:
                        self._save_stage(si, step, figures)
                if episode_end and pending_ckpt:
                    if info.is_main:
                        save_checkpoint(self.out / CHECKPOINT_NAME, self._checkpoint_state(
                            step, si, optimizer, train_seconds, wall_seconds + time.perf_counter() - t_launch,
                            figures))
                    pending_ckpt, last_ckpt = False, time.perf_counter()
                barrier(info)
                bar.set_postfix(loss=f"{logged[0]:.4f}", lr=f"{lr:.2e}", stage=stage.name)
                bar.update(1)
                if stop_now:
                    stopped = "time_budget"
                    bar.write(f"time budget of {time_budget_s:.0f} s reached at step {step}: checkpoint written")
                    break
            if stopped == "done" and step < total:
                stopped = "stop_after"
        finally:
            bar.close()
            shutdown(info)
        return {"step": step, "out_dir": str(self.out), "figures": figures, "stopped": stopped}

    def _resume(self) -> tuple[int, dict | None, int, float, float, dict]:
        """Load the run folder's checkpoint into the model, EMA and RNGs (fresh start when there is none).

        Returns:
            (step, optimizer state, stage index of the checkpoint (-1: none), train seconds, wall seconds,
            last figures).

        Raises:
            InvalidArgument: the checkpoint belongs to a different model configuration.
        """
        ckpt = load_checkpoint(self.out / CHECKPOINT_NAME)
        self.ema = None
        if ckpt is None:
            if self.cfg.init_from is not None:
                self._warm_start(Path(self.cfg.init_from))
            return 0, None, -1, 0.0, 0.0, {}
        if ckpt.get("model_config") != self.model_config.to_dict():
            raise InvalidArgument(f"{self.out} holds a run of a different model; use another --out",
                                  field="model", expected=str(ckpt.get("model_config")),
                                  actual=str(self.model_config.to_dict()))
        self.model.load_state_dict(ckpt["model"])
        train_seconds = float(ckpt.get("train_seconds", 0.0))
        self._restore_ema(ckpt)
        if "rng" in ckpt:
            restore_rng_states(ckpt["rng"])
        return (int(ckpt["step"]), ckpt["optimizer"], int(ckpt["stage_index"]), train_seconds,
                float(ckpt.get("wall_seconds", train_seconds)), json.loads(ckpt.get("figures", "{}")))

    def _warm_start(self, path: Path) -> None:
        """Load ``init_from``'s weights (a ``.safetensors`` weights file, or a ``.pt`` stage file or
        checkpoint, its EMA weights when present) into the fresh model. The model configurations must
        match except for ``output_sharpen`` (display only), ``history_warp`` (the warp of the history, no layer:
        a network trained with one warp can be fine-tuned with the other) and ``quantized`` (a QAT file can
        start an FP32 stage and the reverse: the state dicts are the same).

        Raises:
            InvalidArgument: ``field="init_from"``: a missing or unreadable file, or one of another model
                configuration.
        """
        if not path.is_file():
            raise InvalidArgument("init_from file not found", field="init_from", expected="an existing file",
                                  actual=str(path))
        if path.suffix == ".safetensors":
            from qwplugin.runtime.weights import load_weights_file  # runtime imports stay out of training
            try:
                loaded = load_weights_file(path)
            except InvalidArgument as exc:
                raise InvalidArgument(f"init_from: {exc}", field="init_from") from None
            if loaded.integer:
                raise InvalidArgument("init_from names an exported integer program, not trainable weights",
                                      field="init_from", expected="a float weights file (e.g. *-fp32 or "
                                      "*-int4-qat)", actual=str(path))
            config, state = loaded.config.to_dict(), loaded.model.state_dict()
        else:
            ckpt = load_checkpoint(path)
            config, state = ckpt.get("model_config"), ckpt.get("ema_model", ckpt.get("model"))
            if state is None:
                raise InvalidArgument("init_from file holds no model weights", field="init_from",
                                      expected="a stage file or checkpoint of qwplugin.train", actual=str(path))
        from qwplugin.model.config import NO_LAYER_FIELDS

        def layers(cfg: dict | None) -> dict | None:
            return None if cfg is None else {k: v for k, v in cfg.items() if k not in NO_LAYER_FIELDS}

        if layers(config) != layers(self.model_config.to_dict()):
            raise InvalidArgument(f"init_from {path} holds a different model", field="init_from",
                                  expected=str(self.model_config.to_dict()), actual=str(config))
        self.model.load_state_dict(state)

    def _optimizer_step(self, runner, optimizer, batch: dict[str, torch.Tensor],
                        carry: tuple[torch.Tensor, torch.Tensor] | None):
        """Forward one window (from ``carry``'s detached last output when set), loss, backward, optimizer
        and EMA update. Returns ``(out, ref_nw, loss terms, mean logit**2)``."""
        cfg = self.cfg
        ref_nw = to_network(batch["reference"])
        self._logit_sq, self._collect_logits = [], True
        out = runner(batch["color"], batch["motion_px"], batch["resets"], batch["depth"],
                     None if carry is None else carry[0], jitter_px=batch["jitter_px"],
                     display_hw=tuple(ref_nw.shape[-2:]))  # both read by upscaling models only
        self._collect_logits = False
        logit_sq, penalised_sq = self._kernel_logit_terms()
        # The loss reads the displayed output (ModelConfig.output_sharpen); the recurrence, and the carry
        # into the next window, the unsharpened one (qwplugin.model.display).
        sharpen = self.model_config.output_sharpen
        prev = (None, None) if carry is None else (displayed_nw(carry[0], sharpen), carry[1])
        terms = qwnet_loss(displayed_nw(out, sharpen), ref_nw, display_motion(batch["motion_px"], ref_nw.shape[-2:]),
                           batch["resets"], cfg.spatial_weight, *prev)
        loss = terms.total + cfg.kernel_logit_penalty * penalised_sq if cfg.kernel_logit_penalty else terms.total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optimizer.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optimizer.grad_clip)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pytorch-ranger uses deprecated overloads
            optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return out, ref_nw, terms, logit_sq

    def _evaluate(self, val_blocks, use_flip: bool, step: int, stage_name: str, eval_log: CsvLog, bar,
                  train_seconds: float, wall_seconds: float) -> dict:
        """Validate the model (its EMA weights when on), append the row to ``eval.csv``, print one line;
        returns the figures dict stored in checkpoints."""
        with self.ema.applied(self.model) if self.ema is not None else nullcontext():
            fig = evaluate(self.model, val_blocks, self.cfg.spatial_weight, flip=use_flip)
        figures = {**fig.to_dict(), "step": step, "stage": stage_name,
                   "weights": "ema" if self.ema is not None else "raw"}
        eval_log.append({**figures, "train_seconds": train_seconds, "wall_hours": wall_seconds / 3600.0})
        flip_text = f", FLIP {fig.flip:.4f}" if fig.flip is not None else ""
        bar.write(f"step {step} [{stage_name}] val PSNR {fig.psnr_db:.2f} dB (no-AA {fig.noaa_psnr_db:.2f}), "
                  f"temporal {fig.temporal:.4f} (no-AA {fig.noaa_temporal:.4f}){flip_text}, "
                  f"{wall_seconds / 3600.0:.2f} h")
        return figures

    def _enter_stage(self, si: int, step: int, train_ds: SequenceDataset, opt_state):
        cfg, stage = self.cfg, self.cfg.stages[si]
        starting = opt_state is None and step == cfg.stage_start(si)  # not a resume inside the stage
        if starting and si > 0 and self.ema is not None:
            # The previous stage's average is what it validated and exported: continue from it.
            self.model.load_state_dict(self.ema.model_state(self.model))
        set_quantized(self.model, False)
        set_quant_params_trainable(self.model, stage.quantized)
        if stage.quantized and starting:
            # First step of a QAT stage: calibrate clipping ranges on this step's first window in FP32
            # before switching the quantizers on.
            batch = self._window(self._batch(train_ds, step, whole=True), 0)
            calibrate_activation_ranges(self.model, lambda: SequenceRunner(self.model)(
                batch["color"], batch["motion_px"], batch["resets"], batch["depth"], jitter_px=batch["jitter_px"],
                display_hw=tuple(batch["reference"].shape[-2:])))
        set_quantized(self.model, stage.quantized)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = make_optimizer(params, cfg.optimizer, stage.lr)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        if cfg.ema_decay and (starting or self.ema is None):
            self.ema = WeightEMA(self.model, cfg.ema_decay)
        runner = wrap_model(SequenceRunner(self.model), self.info)
        return optimizer, runner

    def _batch(self, ds: SequenceDataset, step: int, whole: bool = False) -> dict[str, torch.Tensor]:
        """The global batch of the episode starting at ``step`` (every rank draws it), this rank's slice
        unless ``whole``."""
        rng = np.random.default_rng([self.cfg.seed, step])
        items = [ds.sample(rng) for _ in range(self.cfg.batch_size)]
        mine = items if whole else items[self.info.rank::self.info.world_size]
        return {k: v.to(self.device) for k, v in collate(mine).items() if k in BLOCK_KEYS}

    def _window(self, batch: dict[str, torch.Tensor], chunk: int) -> dict[str, torch.Tensor]:
        """Window ``chunk`` (``data.frames`` frames) of an episode's batch; the whole batch when K = 1."""
        if self.cfg.data.chunks == 1:
            return batch
        t = self.cfg.data.frames
        return {k: v[:, chunk * t:(chunk + 1) * t] for k, v in batch.items()}

    def _any(self, flag: bool) -> bool:
        """True when ``flag`` is True on any rank (so every rank takes the same decision)."""
        if not self.info.distributed:
            return bool(flag)
        v = torch.tensor([1.0 if flag else 0.0], device=self.device)  # nccl reduces device tensors only
        torch.distributed.all_reduce(v, op=torch.distributed.ReduceOp.MAX)
        return bool(v.item() > 0)

    def _reduce(self, values: list[torch.Tensor]) -> list[float]:
        """Mean over ranks of scalar tensors (for logging)."""
        v = torch.stack([x.float() for x in values]).to(self.device)  # nccl reduces device tensors only
        if self.info.distributed:
            torch.distributed.all_reduce(v)
            v /= self.info.world_size
        return [float(x) for x in v.cpu()]


def train(config: TrainConfig, out_dir: str | Path | None = None, device: str = "auto", progress: bool = True,
          stop_after: int | None = None, time_budget_s: float | None = None) -> dict[str, Any]:
    """Train (or resume) a run; see :class:`Trainer` and the module docstring.

    Returns:
        {"step", "out_dir", "figures", "stopped"}.
    """
    return Trainer(config, out_dir, device, progress).run(stop_after=stop_after, time_budget_s=time_budget_s)
