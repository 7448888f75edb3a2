"""Per-frame timing statistics of ``Context.dispatch``: medians over a sliding window of frames.

Stages (milliseconds of wall-clock time on the host; on CUDA the device is synchronised at each stage
boundary so that the time is the stage's own, at the price of a little overlap lost):

==================  ======================================================================================
stage               what it covers
==================  ======================================================================================
``checks``          input validation (:mod:`~qwplugin.runtime.validate`) and the optional debug checker
``input_transfer``  arrays to (1, C, H, W) float32 tensors on the device, colour sanitising, depth convert
``extractor``       the feature extractor (U-Net) forward; for models without a separate extractor, the
                    whole network forward
``filter``          everything else in the reconstruction step: tonemap, warp, the kernel-prediction
                    filter network, inverse tonemap (or the TAA baseline on a fallback frame)
``output_transfer`` the output to the caller's type (numpy copy, or the preallocated ``out``)
``total``           the whole ``dispatch`` call
==================  ======================================================================================
"""

from __future__ import annotations

import statistics
import time
from collections import deque

import torch

STAGES = ("checks", "input_transfer", "extractor", "filter", "output_transfer", "total")


class TimingStats:
    """Sliding-window per-stage frame times.

    Args:
        window: number of most recent frames the medians cover (>= 1).

    Examples:
        >>> t = TimingStats(window=3)
        >>> for ms in (1.0, 5.0, 2.0, 4.0):
        ...     t.add_frame({"total": ms})
        >>> t.median("total"), t.frames
        (4.0, 4)
    """

    def __init__(self, window: int = 60):
        assert window >= 1
        self.window = window
        self._samples = {stage: deque(maxlen=window) for stage in STAGES}
        self._last: dict[str, float] = {}
        self.frames = 0

    def add_frame(self, times_ms: dict[str, float]) -> None:
        """Record one frame's stage times (stages not in ``times_ms`` count as 0 ms for that frame)."""
        assert set(times_ms) <= set(STAGES), set(times_ms) - set(STAGES)
        for stage in STAGES:
            self._samples[stage].append(float(times_ms.get(stage, 0.0)))
        self._last = {stage: float(times_ms.get(stage, 0.0)) for stage in STAGES}
        self.frames += 1

    def median(self, stage: str) -> float | None:
        """Median ms of ``stage`` over the window, or None before the first frame."""
        samples = self._samples[stage]
        return statistics.median(samples) if samples else None

    def medians(self) -> dict[str, float]:
        """``{stage: median ms}`` over the window (empty before the first frame)."""
        return {s: statistics.median(v) for s, v in self._samples.items() if v}

    def last(self) -> dict[str, float]:
        """The most recent frame's ``{stage: ms}`` (empty before the first frame)."""
        return dict(self._last)

    def clear(self) -> None:
        """Forget all samples (e.g. after a resize, whose first frames are not representative)."""
        for samples in self._samples.values():
            samples.clear()
        self._last = {}
        self.frames = 0


class StageClock:
    """Measures consecutive stages of one frame: ``lap(stage)`` closes the stage that just ran.

    On a CUDA device each lap synchronises the device first, so queued kernels count in their stage.
    """

    def __init__(self, device: torch.device):
        self._cuda = device.type == "cuda"
        self.times_ms: dict[str, float] = {}
        self._start = self._now()
        self._mark = self._start

    def _now(self) -> float:
        if self._cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def lap(self, stage: str) -> float:
        """Attribute the time since the previous lap to ``stage`` (accumulating); returns those ms."""
        now = self._now()
        ms = (now - self._mark) * 1000.0
        self.times_ms[stage] = self.times_ms.get(stage, 0.0) + ms
        self._mark = now
        return ms

    def move(self, ms: float, from_stage: str, to_stage: str) -> None:
        """Re-attribute ``ms`` already counted in ``from_stage`` to ``to_stage`` (extractor split)."""
        self.times_ms[from_stage] = self.times_ms.get(from_stage, 0.0) - ms
        self.times_ms[to_stage] = self.times_ms.get(to_stage, 0.0) + ms

    def finish(self) -> dict[str, float]:
        """Set ``total`` to the time since construction and return all stage times."""
        self.times_ms["total"] = (self._now() - self._start) * 1000.0
        return dict(self.times_ms)


class ModuleTimer:
    """Times the forward calls of one submodule (the feature extractor) through forward hooks.

    ``pop_ms()`` returns and resets the accumulated milliseconds. ``remove()`` detaches the hooks.
    """

    def __init__(self, module: torch.nn.Module, device: torch.device):
        self._cuda = device.type == "cuda"
        self._start = 0.0
        self._ms = 0.0
        self._handles = [module.register_forward_pre_hook(self._pre),
                         module.register_forward_hook(self._post)]

    def _now(self) -> float:
        if self._cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def _pre(self, module, args) -> None:
        self._start = self._now()

    def _post(self, module, args, output) -> None:
        self._ms += (self._now() - self._start) * 1000.0

    def pop_ms(self) -> float:
        ms, self._ms = self._ms, 0.0
        return ms

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
