"""Per-frame millisecond budget of ``Context.dispatch`` and the host-chosen over-budget policy.

Every frame's total ``dispatch`` time is compared with ``ContextDesc.budget_ms``; a frame over it is
counted (``Context.stats.over_budget_frames``, the most recent ones listed with their times). Policies:

- ``"warn"``: emit a :class:`~qwplugin.runtime.warn.BudgetWarning` (first over-budget frame, then at most
  once every ``warn_every`` frames) and keep running QW-Net.
- ``"fallback"``: one can only know that a frame is over budget after running it, so the decision for a
  frame is a *prediction*: when the median time of the last ``decision_window`` QW-Net frames is over
  budget, the frame runs the TAA baseline (:func:`qwplugin.taa.taa_resolve`) instead. Every
  ``probe_interval``-th consecutive fallback frame runs QW-Net again to re-measure it, so the context
  returns to QW-Net when the machine gets faster (e.g. after a resize to a smaller size). A single slow
  frame (a page fault, a GC pause) does not flip the decision; a sustained slowdown does.
"""

from __future__ import annotations

import statistics
from collections import deque

from qwplugin.runtime.warn import BudgetWarning, RateLimiter, emit, logger


class BudgetMonitor:
    """Tracks frame times against a budget and decides QW-Net vs TAA fallback per frame.

    Args:
        budget_ms: the budget in ms (> 0), or None for no budget (never over, never falls back).
        policy: ``"warn"`` or ``"fallback"``.
        decision_window: number of recent QW-Net frames whose median drives the fallback decision.
        probe_interval: during fallback, run QW-Net on every ``probe_interval``-th frame to re-measure.
        warn_every: rate limit of the warnings, in frames.

    Examples:
        >>> b = BudgetMonitor(10.0, "fallback", decision_window=3, probe_interval=4)
        >>> for i in range(3):
        ...     _ = b.observe(i, 25.0, fallback=False)
        >>> b.use_fallback()
        True
    """

    RECENT = 32
    """How many of the most recent over-budget frames ``recent_over`` keeps."""

    def __init__(self, budget_ms: float | None, policy: str = "warn", *, decision_window: int = 8,
                 probe_interval: int = 60, warn_every: int = 120):
        assert policy in ("warn", "fallback"), policy
        assert decision_window >= 1 and probe_interval >= 2
        self.budget_ms = budget_ms
        self.policy = policy
        self.probe_interval = probe_interval
        self._qwnet_ms: deque[float] = deque(maxlen=decision_window)
        self._fallback_run = 0
        self._limiter = RateLimiter(warn_every)
        self.over_budget_frames = 0
        self.fallback_frames = 0
        self.recent_over: deque[tuple[int, float]] = deque(maxlen=self.RECENT)

    def use_fallback(self) -> bool:
        """Whether the coming frame should run the TAA baseline instead of QW-Net."""
        if self.budget_ms is None or self.policy != "fallback" or not self._qwnet_ms:
            return False
        if statistics.median(self._qwnet_ms) <= self.budget_ms:
            return False
        return (self._fallback_run + 1) % self.probe_interval != 0

    def observe(self, frame_index: int, total_ms: float, *, fallback: bool) -> bool:
        """Record a finished frame; returns True when it was over budget (and reports it)."""
        if fallback:
            self.fallback_frames += 1
            self._fallback_run += 1
        else:
            self._qwnet_ms.append(total_ms)
            self._fallback_run = 0
        if self.budget_ms is None or total_ms <= self.budget_ms:
            return False
        self.over_budget_frames += 1
        self.recent_over.append((frame_index, total_ms))
        text = (f"frame {frame_index} took {total_ms:.2f} ms, over the {self.budget_ms:g} ms budget "
                f"({self.over_budget_frames} over-budget frames so far)")
        if self.policy == "warn":
            if self._limiter.allow("over", frame_index):
                emit(BudgetWarning(text), stacklevel=4)
        else:
            logger.info("%s; policy 'fallback'", text)
        return True

    def reset_measurements(self) -> None:
        """Forget QW-Net times (after a resize: the cost changed)."""
        self._qwnet_ms.clear()
        self._fallback_run = 0
