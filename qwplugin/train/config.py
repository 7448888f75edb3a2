"""Training configuration: one JSON file per run (see ``configs/*.json`` and ``docs/training.md``).

Example (``configs/tiny_test.json``)::

    {"name": "tiny", "seed": 7,
     "model": {"preset": "tiny", "kind": "qwnet"},
     "data": {"root": "data/tiny", "crop": 32, "exposure_log2_range": 1.0, "flips": true},
     "batch_size": 2, "checkpoint_every": 5, "eval_every": 10,
     "optimizer": {"name": "ranger", "betas": [0.95, 0.999], "eps": 1e-5, "alpha": 0.5, "k": 6},
     "stages": [{"name": "fp32", "quantized": false, "steps": 20, "lr": 0.002,
                 "schedule": "cosine", "warmup_steps": 2, "final_lr": 0.0002},
                {"name": "int4", "quantized": true, "steps": 10, "lr": 0.0005, "schedule": "flat"}]}

Stages run one after another in the same run; a stage starts from the previous stage's final weights (its
EMA when ``ema_decay`` is set) with a fresh optimizer (stage 2 = quantization-aware fine-tuning from the
FP32 weights). Steps are counted globally across stages.

Recipe options, each off by default (the released setup) and documented in ``docs/training.md``:

- learning rate: linear warm-up over ``warmup_steps``, then ``schedule`` "flat", "cosine", "exp" or "step"
  (multiply by ``decay_factor`` every ``decay_every`` steps) per stage;
- ``ema_decay``: an exponential moving average of the weights, used for validation, stage files and export;
- truncated backpropagation through time: ``data.frames`` is the unroll window; ``data.chunks`` > 1 draws
  ``frames * chunks`` consecutive frames and trains on them as ``chunks`` consecutive steps, the history
  carried from one window to the next and detached between them;
- ``kernel_logit_penalty``: a z-loss style penalty on the filter network's kernel logits (not in the
  released code);
- ``checkpoint_minutes``: checkpoint by wall time too; ``eval_flip``: LDR-FLIP in the validation figures;
- ``init_from``: warm start from another run's weights.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qwplugin.errors import InvalidArgument

SCHEDULES = ("flat", "cosine", "exp", "step")


@dataclass
class StageConfig:
    """One training stage.

    Attributes:
        name: label used in logs and file names ("fp32", "int4").
        quantized: run with 4-bit fake quantization (``set_quantized(model, True)``).
        steps: optimizer steps of this stage.
        lr: peak learning rate.
        schedule: "flat", "cosine" (to ``final_lr``), "exp" (geometric to ``final_lr``) or "step" (``lr``
            times ``decay_factor`` every ``decay_every`` steps, floored at ``final_lr``), after a linear
            warm-up of ``warmup_steps`` (``lr * (s + 1) / warmup_steps`` at step ``s``; 0 = none).
        decay_every, decay_factor: the "step" schedule's period (steps after the warm-up) and factor.
    """

    name: str
    quantized: bool
    steps: int
    lr: float
    schedule: str = "cosine"
    warmup_steps: int = 0
    final_lr: float = 0.0
    decay_every: int = 0
    decay_factor: float = 0.5

    def lr_at(self, step_in_stage: int) -> float:
        """Learning rate for a 0-based step inside this stage (a pure function of the step, so a resumed
        run has the schedule's state without storing it).

        Examples:
            >>> StageConfig("a", False, 100, 1.0, "step", warmup_steps=10, decay_every=30).lr_at(45)
            0.5
        """
        s = step_in_stage
        if self.warmup_steps > 0 and s < self.warmup_steps:
            return self.lr * (s + 1) / self.warmup_steps
        if self.schedule == "flat":
            return self.lr
        if self.schedule == "step":
            return max(self.final_lr, self.lr * self.decay_factor ** ((s - self.warmup_steps) // self.decay_every))
        span = max(1, self.steps - self.warmup_steps)
        f = min(1.0, (s - self.warmup_steps) / span)
        if self.schedule == "cosine":
            return self.final_lr + 0.5 * (self.lr - self.final_lr) * (1.0 + math.cos(math.pi * f))
        return self.lr * (max(self.final_lr, 1e-12) / self.lr) ** f  # "exp"


@dataclass
class DataConfig:
    """Dataset and augmentation settings.

    Attributes:
        root: dataset folder with ``index.json`` (relative paths are relative to the working directory).
        crop: square crop size in pixels (None = full frames).
        frames: frames per training block, the unroll window of backpropagation through time (None = all
            frames of a sequence).
        chunks: consecutive windows per drawn sample (truncated BPTT): a sample of ``frames * chunks``
            frames is trained on as ``chunks`` steps, each window starting from the previous window's last
            output (detached: no gradient crosses a window boundary). 1 = independent windows, each
            starting from a reset.
        flips: random horizontal/vertical flips.
        exposure_log2_range: exposure multiplier ``2 ** U(-r, r)``.
        val_sequences: at most this many validation sequences per evaluation (None = all).
    """

    root: str
    crop: int | None = 128
    frames: int | None = None
    chunks: int = 1
    flips: bool = True
    exposure_log2_range: float = 1.0
    val_sequences: int | None = None


@dataclass
class OptimizerConfig:
    """Ranger (RAdam + Lookahead) settings of the released code (qwnet.md section 5)."""

    name: str = "ranger"
    betas: tuple[float, float] = (0.95, 0.999)
    eps: float = 1e-5
    alpha: float = 0.5
    k: int = 6
    weight_decay: float = 0.0
    grad_clip: float | None = None


@dataclass
class TrainConfig:
    """A whole training run (see the module docstring).

    ``kernel_logit_penalty`` (default 0, the released loss): weight ``lambda`` of a z-loss style term
    ``lambda * mean(logit**2)`` over the raw logits of the filter network's kernel-predicting 1x1 convs
    (every stage, every frame), added to the QW-Net loss. It keeps the logits small so the softmax (or the
    ``kernel_logit_cap``'s tanh) never saturates, where it has no gradient (docs/training.md).
    ``kernel_logit_penalty_stages`` (None = every stage): the filter stages the penalty applies to, by
    name (``down0`` .. ``down4``, ``up0`` .. ``up3``), e.g. ``["down0"]`` to keep only the full-resolution
    current/history choice from saturating and leave the coarse stages free; ``logit_sq`` in ``train.csv``
    stays the mean over every stage.

    ``ema_decay`` (None = off): keep ``ema = d * ema + (1 - d) * weights`` after every optimizer step, with
    ``d = min(ema_decay, (1 + n) / (10 + n))`` at the n-th update of a stage (so short runs are not held at
    the initial weights); validation, stage files and export use the EMA weights, and the next stage
    starts from them. ``checkpoint_minutes`` (None = off): also checkpoint when that much wall time has
    passed since the last checkpoint. ``eval_flip``: add mean LDR-FLIP (``flip-evaluator``, display domain)
    to the validation figures when the package is installed (about 60 ms per 256x192 frame on one core).
    """

    name: str
    model: dict[str, Any]
    data: DataConfig
    stages: list[StageConfig]
    seed: int = 524287
    batch_size: int = 4
    checkpoint_every: int = 50
    eval_every: int = 200
    spatial_weight: float = 0.3
    kernel_logit_penalty: float = 0.0
    kernel_logit_penalty_stages: list[str] | None = None
    ema_decay: float | None = None
    checkpoint_minutes: float | None = None
    eval_flip: bool = False
    init_from: str | None = None
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    threads: int | None = None
    description: str = ""

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    @property
    def sample_frames(self) -> int | None:
        """Frames of one drawn sample: ``data.frames * data.chunks`` (None: whole sequences)."""
        return None if self.data.frames is None else self.data.frames * self.data.chunks

    def stage_at(self, step: int) -> tuple[int, int]:
        """(stage index, step inside the stage) for a 0-based global step."""
        start = 0
        for i, s in enumerate(self.stages):
            if step < start + s.steps:
                return i, step - start
            start += s.steps
        raise InvalidArgument("step beyond the last stage", field="step", expected=f"< {start}", actual=str(step))

    def stage_start(self, index: int) -> int:
        return sum(s.steps for s in self.stages[:index])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """Build from a parsed JSON object.

        Raises:
            InvalidArgument: a missing or unknown key, or a bad value, naming its path.
        """
        try:
            raw = dict(raw)
            data = DataConfig(**raw.pop("data"))
            stages = [StageConfig(**s) for s in raw.pop("stages")]
            opt = raw.pop("optimizer", {})
            optimizer = OptimizerConfig(**{**opt, "betas": tuple(opt.get("betas", (0.95, 0.999)))})
            cfg = cls(data=data, stages=stages, optimizer=optimizer, **raw)
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"bad training config: {exc}", field="config") from exc
        for i, s in enumerate(cfg.stages):
            if s.schedule not in SCHEDULES:
                raise InvalidArgument("unknown schedule", field=f"stages[{i}].schedule",
                                      expected="|".join(SCHEDULES), actual=s.schedule)
            if s.steps < 0 or s.lr <= 0:
                raise InvalidArgument("steps must be >= 0 and lr > 0", field=f"stages[{i}]",
                                      expected="steps >= 0, lr > 0", actual=f"steps={s.steps}, lr={s.lr}")
            if s.warmup_steps < 0:
                raise InvalidArgument("warmup_steps must be >= 0", field=f"stages[{i}].warmup_steps",
                                      expected=">= 0", actual=str(s.warmup_steps))
            if s.schedule == "step" and not (s.decay_every >= 1 and 0 < s.decay_factor <= 1):
                raise InvalidArgument("the step schedule needs decay_every >= 1 and 0 < decay_factor <= 1",
                                      field=f"stages[{i}].decay_every", expected="decay_every >= 1, factor in (0, 1]",
                                      actual=f"decay_every={s.decay_every}, decay_factor={s.decay_factor}")
        if not cfg.kernel_logit_penalty >= 0:
            raise InvalidArgument("kernel_logit_penalty must be >= 0", field="kernel_logit_penalty",
                                  expected=">= 0", actual=repr(cfg.kernel_logit_penalty))
        stages_ok = cfg.kernel_logit_penalty_stages is None or (
            isinstance(cfg.kernel_logit_penalty_stages, list) and cfg.kernel_logit_penalty_stages
            and all(isinstance(n, str) and re.fullmatch(r"(down|up)\d", n) for n in cfg.kernel_logit_penalty_stages))
        if not stages_ok:
            raise InvalidArgument("kernel_logit_penalty_stages must be null or a non-empty list of filter stage "
                                  "names", field="kernel_logit_penalty_stages", expected='e.g. ["down0", "up0"]',
                                  actual=repr(cfg.kernel_logit_penalty_stages))
        if cfg.ema_decay is not None and not 0.0 < cfg.ema_decay < 1.0:
            raise InvalidArgument("ema_decay must lie in (0, 1) or be null", field="ema_decay",
                                  expected="(0, 1) or null", actual=repr(cfg.ema_decay))
        if cfg.checkpoint_minutes is not None and not cfg.checkpoint_minutes > 0:
            raise InvalidArgument("checkpoint_minutes must be > 0 or null", field="checkpoint_minutes",
                                  expected="> 0 or null", actual=repr(cfg.checkpoint_minutes))
        if cfg.data.chunks < 1 or (cfg.data.chunks > 1 and cfg.data.frames is None):
            raise InvalidArgument("data.chunks must be >= 1, and > 1 only with data.frames set", field="data.chunks",
                                  expected=">= 1 (frames set when > 1)",
                                  actual=f"chunks={cfg.data.chunks}, frames={cfg.data.frames}")
        if cfg.init_from is not None and not (isinstance(cfg.init_from, str)
                                              and cfg.init_from.endswith((".pt", ".safetensors"))):
            raise InvalidArgument("init_from must be null or the path of a .pt or .safetensors file",
                                  field="init_from", expected="null | '*.pt' | '*.safetensors'",
                                  actual=repr(cfg.init_from))
        if cfg.batch_size < 1 or cfg.checkpoint_every < 1 or cfg.eval_every < 1:
            raise InvalidArgument("batch_size, checkpoint_every and eval_every must be >= 1", field="config")
        if cfg.optimizer.name not in ("ranger", "adam"):
            raise InvalidArgument("unknown optimizer", field="optimizer.name", expected="ranger|adam",
                                  actual=cfg.optimizer.name)
        return cfg


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a training config JSON file.

    Raises:
        InvalidArgument: missing/unparsable file or a bad config (naming the field).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"no config file at {path}", field="config", expected="a JSON file", actual=str(path))
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{path} is not valid JSON: {exc}", field="config") from exc
    return TrainConfig.from_dict(raw)
