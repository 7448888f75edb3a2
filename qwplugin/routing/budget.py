"""A budget controller: pick k each frame so the routed pass fits a time budget.

Model: a pass with heavy fraction f takes ``t = a + b f`` ms (a: classifier, light path, gather/scatter;
b: the heavy path over the whole frame). The controller commands a heavy fraction

    f_cmd = clip((budget - margin - a_hat) / b_hat, 0, 1),   margin = z * sigma_hat,

and turns it into this frame's k by :func:`~qwplugin.routing.decision.k_for_fraction` on the frame's own
heavy probabilities (the classifier runs before either path, so the fraction is set exactly, up to ties).
After the pass, ``a_hat`` moves towards ``t - b_hat f`` with the frame's *measured* fraction f (EMA, weight
``1 - inertia``): this is integral action, so the mean time converges to ``budget - margin`` even when the
slope estimate is off (the fixed point is ``f = (budget - margin - a) / b`` whatever ``b_hat``). Using the
measured rather than the commanded fraction keeps the whole-element quantisation (and any element a
caller drops) out of the intercept, so a frame that got fewer elements than commanded does not push the
next one over the budget. Linearised, the commanded fraction
evolves as ``f' = const + (1 - (1 - inertia) b / b_hat) f``: stable for any ``b_hat > (1 - inertia) b / 2``,
so a rough slope is enough. ``b_hat`` is refitted from the recent frames' frame-to-frame differences when
the fractions move enough to identify it (see :meth:`BudgetController._refit`). ``sigma_hat`` is a robust
scale (1.4826 x median absolute deviation) of the one-step prediction residuals
``t - (a_hat + b_hat f)`` over the last 64 frames: once
settled, the prediction is the target, so these residuals are the time's deviation from it (noise,
the integral action's own jitter, hysteresis), while the large residuals of a start-up with a wrong slope
guess are outliers the median ignores.

The first frame runs all light (f = 0) and measures ``a`` (and is kept out of the slope fit: first calls
often carry one-off start-up costs).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.routing.decision import k_for_fraction

DEFAULT_INERTIA = 0.7
"""EMA weight of the previous intercept estimate (higher: less noise passed into the fraction)."""
DEFAULT_MARGIN_SIGMAS = 2.5
"""Safety margin in residual standard deviations below the budget."""
SLOPE_WINDOW = 64
"""Frames in the least-squares window of the slope estimate."""
MIN_FRACTION_SPREAD = 0.05
"""RMS frame-to-frame change of the window's fractions needed before the slope is refitted."""


MIN_SLOPE_FRAMES = 4
"""Frames in the window before the slope is refitted."""
SLOPE_STEP = 1.1
"""After start-up, one refit changes the slope estimate by at most this factor."""
SLOPE_RESTART = 0.5
"""During the first SLOPE_WINDOW frames, a refitted slope this far (relative) from the old one also resets the
intercept to the fit's and drops the residuals measured with the old model."""


MAD_TO_SIGMA = 1.4826
"""Median absolute deviation to standard deviation for Gaussian noise."""


def _robust_sigma(residuals) -> float:
    """Noise scale of the one-step prediction residuals: 1.4826 x their median absolute deviation (a start-up
    transient with a wrong slope guess leaves it within a few frames); the largest |residual| while there
    are fewer than 3 (conservative)."""
    r = sorted(residuals)
    if len(r) < 3:
        return max(abs(x) for x in r)
    med = r[len(r) // 2] if len(r) % 2 else 0.5 * (r[len(r) // 2 - 1] + r[len(r) // 2])
    dev = sorted(abs(x - med) for x in r)
    mad = dev[len(dev) // 2] if len(dev) % 2 else 0.5 * (dev[len(dev) // 2 - 1] + dev[len(dev) // 2])
    return MAD_TO_SIGMA * mad


@dataclass(frozen=True)
class BudgetReport:
    """Per-frame record of a controlled sequence.

    Attributes:
        heavy_fraction: actual heavy fraction per frame.
        ms: measured pass time per frame.
        k: the k chosen per frame.
        budget_ms: the budget.
    """

    heavy_fraction: tuple[float, ...]
    ms: tuple[float, ...]
    k: tuple[float, ...]
    budget_ms: float

    @property
    def worst_ms(self) -> float:
        return max(self.ms) if self.ms else 0.0

    @property
    def worst_heavy_fraction(self) -> float:
        return max(self.heavy_fraction) if self.heavy_fraction else 0.0

    @property
    def mean_heavy_fraction(self) -> float:
        return sum(self.heavy_fraction) / len(self.heavy_fraction) if self.heavy_fraction else 0.0

    @property
    def frames_over_budget(self) -> int:
        return sum(t > self.budget_ms for t in self.ms)


class BudgetController:
    """Chooses k per frame from measured pass times (module docstring).

    Args:
        budget_ms: time budget of the routed pass, ms > 0.
        costs: (light, heavy) relative path costs used by the k decision (e.g. MACs per pixel).
        initial_heavy_ms: first guess of b (ms for an all-heavy frame above an all-light one); default the
            budget. Any guess above ~1/7 of the true b keeps the loop stable at the default inertia.
        inertia: EMA weight of the previous intercept, in [0, 1).
        margin_sigmas: z of the safety margin.
        max_step: the commanded fraction rises by at most this much above the last measured fraction per
            frame (None: no limit). Keeps a start-up with a poor slope guess from jumping into a regime the
            linear model does not describe (e.g. the routed reconstructor's full-frame switch).

    Raises:
        InvalidArgument: an argument out of range.
    """

    def __init__(self, budget_ms: float, costs, initial_heavy_ms: float | None = None,
                 inertia: float = DEFAULT_INERTIA, margin_sigmas: float = DEFAULT_MARGIN_SIGMAS,
                 max_step: float | None = None):
        if not budget_ms > 0:
            raise InvalidArgument("budget must be > 0 ms", field="budget_ms", expected="> 0", actual=repr(budget_ms))
        if not 0.0 <= inertia < 1.0:
            raise InvalidArgument("inertia must be in [0, 1)", field="inertia", expected="[0, 1)", actual=repr(inertia))
        if not margin_sigmas >= 0.0:
            raise InvalidArgument("margin_sigmas must be >= 0", field="margin_sigmas", expected=">= 0",
                                  actual=repr(margin_sigmas))
        b0 = budget_ms if initial_heavy_ms is None else initial_heavy_ms
        if not b0 > 0:
            raise InvalidArgument("initial_heavy_ms must be > 0", field="initial_heavy_ms", expected="> 0",
                                  actual=repr(initial_heavy_ms))
        k_for_fraction(torch.zeros(1), 0.0, costs)  # validates the costs
        if max_step is not None and not 0.0 < max_step <= 1.0:
            raise InvalidArgument("max_step must be in (0, 1]", field="max_step", expected="(0, 1] or None",
                                  actual=repr(max_step))
        self.budget_ms, self.costs, self.inertia, self.margin_sigmas = float(budget_ms), costs, inertia, margin_sigmas
        self.max_step = max_step
        self.a_hat: float | None = None
        self.b_hat = float(b0)
        self._sigma = 0.0
        self._residuals: deque[float] = deque(maxlen=SLOPE_WINDOW)
        self._window: deque[tuple[float, float]] = deque(maxlen=SLOPE_WINDOW)
        self._f_cmd = 0.0
        self._fractions: list[float] = []
        self._ms: list[float] = []
        self._ks: list[float] = []

    @property
    def margin_ms(self) -> float:
        """Current safety margin below the budget."""
        return self.margin_sigmas * self._sigma

    def commanded_fraction(self) -> float:
        """The heavy fraction the next frame should get."""
        if self.a_hat is None:
            return 0.0
        f = (self.budget_ms - self.margin_ms - self.a_hat) / self.b_hat
        if self.max_step is not None and self._fractions:
            f = min(f, self._fractions[-1] + self.max_step)
        return min(max(f, 0.0), 1.0)

    @property
    def last_commanded(self) -> float:
        """The heavy fraction commanded by the latest :meth:`choose_k`."""
        return self._f_cmd

    def skip(self) -> None:
        """Forget the latest :meth:`choose_k`: the frame is not measured (e.g. a first frame after a cut,
        whose light path has no history and runs far faster than a normal frame)."""
        if len(self._ks) > len(self._ms):
            self._ks.pop()

    def choose_k(self, p_heavy: torch.Tensor) -> float:
        """This frame's k: the one that routes :meth:`commanded_fraction` of ``p_heavy``'s elements heavy."""
        self._f_cmd = self.commanded_fraction()
        k = k_for_fraction(p_heavy, self._f_cmd, self.costs)
        self._ks.append(k)
        return k

    def update(self, measured_ms: float, heavy_fraction: float) -> None:
        """Feed back the frame's measured pass time and its actual heavy fraction.

        Raises:
            InvalidArgument: a negative or non-finite time, a fraction outside [0, 1].
        """
        if not (math.isfinite(measured_ms) and measured_ms >= 0):
            raise InvalidArgument("measured time must be finite and >= 0", field="measured_ms", expected=">= 0 ms",
                                  actual=repr(measured_ms))
        if not 0.0 <= heavy_fraction <= 1.0:
            raise InvalidArgument("heavy fraction must be in [0, 1]", field="heavy_fraction", expected="[0, 1]",
                                  actual=repr(heavy_fraction))
        t, f = float(measured_ms), float(heavy_fraction)
        if self.a_hat is None:
            self.a_hat = t - self.b_hat * f
        else:
            self._residuals.append(t - (self.a_hat + self.b_hat * f))
            self._sigma = _robust_sigma(self._residuals)
            self.a_hat = self.inertia * self.a_hat + (1.0 - self.inertia) * (t - self.b_hat * f)
        if self._ms:  # the first frame often carries one-off start-up costs: kept out of the slope fit
            self._window.append((f, t))
            self._refit()
        self._fractions.append(f)
        self._ms.append(t)

    def _refit(self) -> None:
        """Refit the slope from the window's frame-to-frame differences, ``sum(df dt) / sum(df^2)``: a change
        of the intercept (new content) cancels in the differences, where a plain least-squares line through
        a window straddling it would give a garbage slope. Used only when the fractions moved enough.

        During start-up (the first SLOPE_WINDOW frames) a slope far from the guess replaces it outright and
        restarts the intercept from the window's line; later each refit may change ``b_hat`` by at most
        the factor SLOPE_STEP, since an underestimated slope is the direction that overshoots the budget.
        """
        n = len(self._window)
        if n < MIN_SLOPE_FRAMES:
            return
        pts = list(self._window)
        dfs = [b[0] - a[0] for a, b in zip(pts, pts[1:])]
        dts = [b[1] - a[1] for a, b in zip(pts, pts[1:])]
        sff = sum(d * d for d in dfs)
        if sff < len(dfs) * MIN_FRACTION_SPREAD ** 2:
            return
        slope = sum(x * y for x, y in zip(dfs, dts)) / sff
        if slope <= 0:
            return
        if len(self._ms) < SLOPE_WINDOW:
            if abs(slope / self.b_hat - 1.0) > SLOPE_RESTART:
                mf = sum(p[0] for p in pts) / n
                mt = sum(p[1] for p in pts) / n
                self.a_hat = mt - slope * mf
                self._residuals.clear()
            self.b_hat = slope
        else:
            self.b_hat = min(max(slope, self.b_hat / SLOPE_STEP), self.b_hat * SLOPE_STEP)

    def report(self) -> BudgetReport:
        """Everything measured so far."""
        return BudgetReport(tuple(self._fractions), tuple(self._ms), tuple(self._ks[:len(self._ms)]), self.budget_ms)
