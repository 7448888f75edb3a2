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

Stages run one after another in the same run; a stage starts from the previous stage's final weights with
a fresh optimizer (stage 2 = quantization-aware fine-tuning from the FP32 weights). Steps are counted
globally across stages.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qwplugin.errors import InvalidArgument

SCHEDULES = ("flat", "cosine", "exp")


@dataclass
class StageConfig:
    """One training stage.

    Attributes:
        name: label used in logs and file names ("fp32", "int4").
        quantized: run with 4-bit fake quantization (``set_quantized(model, True)``).
        steps: optimizer steps of this stage.
        lr: peak learning rate.
        schedule: "flat", "cosine" (to ``final_lr``) or "exp" (geometric to ``final_lr``), after a linear
            warm-up of ``warmup_steps``.
    """

    name: str
    quantized: bool
    steps: int
    lr: float
    schedule: str = "cosine"
    warmup_steps: int = 0
    final_lr: float = 0.0

    def lr_at(self, step_in_stage: int) -> float:
        """Learning rate for a 0-based step inside this stage."""
        s = step_in_stage
        if self.warmup_steps > 0 and s < self.warmup_steps:
            return self.lr * (s + 1) / self.warmup_steps
        if self.schedule == "flat":
            return self.lr
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
        frames: frames per training block (None = all frames of a sequence).
        flips: random horizontal/vertical flips.
        exposure_log2_range: exposure multiplier ``2 ** U(-r, r)``.
        val_sequences: at most this many validation sequences per evaluation (None = all).
    """

    root: str
    crop: int | None = 128
    frames: int | None = None
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
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    threads: int | None = None
    description: str = ""

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

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
        if not cfg.kernel_logit_penalty >= 0:
            raise InvalidArgument("kernel_logit_penalty must be >= 0", field="kernel_logit_penalty",
                                  expected=">= 0", actual=repr(cfg.kernel_logit_penalty))
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
