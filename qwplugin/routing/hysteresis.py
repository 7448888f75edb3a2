"""Temporal hysteresis of the heavy/light decision, so region boundaries do not flicker.

Two mechanisms, both in screen space (per pixel or per tile; with camera motion a tile's history is the
same screen tile, not the same surface: good enough for tiles a few times larger than the motion per
frame, and reset on a cut):

1. the heavy probability is smoothed over frames, ``s_t = smoothing * s_{t-1} + (1 - smoothing) * p_t``;
2. a Schmitt trigger on the smoothed value in logit space: a light element turns heavy only when
   ``logit(s) > logit(tau) + margin``, a heavy one turns light only when ``logit(s) < logit(tau) - margin``.

``tau`` is the frame's threshold from any knob (:func:`~qwplugin.routing.decision.heavy_threshold` of k,
:func:`~qwplugin.routing.decision.kmeans_threshold`, the budget controller), so hysteresis composes with
all of them. The first frame and the frame after a reset use the plain threshold.

Under a budget the count of heavy elements is fixed by the controller, not by a threshold:
:meth:`DecisionHysteresis.select` takes the ``count`` elements of highest hysteresis score, ``logit(s) +
margin`` for an element heavy last frame and ``logit(s) - margin`` otherwise, which is the same dead band
(an element keeps its state unless another beats it by more than ``2 margin``) with the count exact. A
threshold with a dead band cannot promise a count: where the probabilities are bunched within the band, no
light element crosses it and a budget loop that feeds back the measured fraction stalls at 0.
"""

from __future__ import annotations

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.routing.decision import PROB_EPS, top_count_mask

DEFAULT_SMOOTHING = 0.5
"""Weight of the previous frame's smoothed probability (time constant ~1.4 frames)."""
DEFAULT_MARGIN = 0.5
"""Half-width of the Schmitt trigger's dead band, in logit units (0.5 = about +-0.12 in probability at 0.5)."""


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(PROB_EPS, 1.0 - PROB_EPS)
    return torch.log(p) - torch.log1p(-p)


class DecisionHysteresis:
    """Stateful heavy/light decision with smoothing and a dead band.

    Args:
        smoothing: EMA weight of the previous smoothed probability, in [0, 1).
        margin: dead-band half-width in logit units, >= 0.

    Raises:
        InvalidArgument: an argument out of range.
    """

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING, margin: float = DEFAULT_MARGIN):
        if not 0.0 <= smoothing < 1.0:
            raise InvalidArgument("smoothing must be in [0, 1)", field="smoothing", expected="[0, 1)",
                                  actual=repr(smoothing))
        if not margin >= 0.0:
            raise InvalidArgument("margin must be >= 0", field="margin", expected=">= 0", actual=repr(margin))
        self.smoothing, self.margin = smoothing, margin
        self._smoothed: torch.Tensor | None = None
        self._heavy: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the history (camera cut)."""
        self._smoothed = self._heavy = None

    def step(self, p_heavy: torch.Tensor, tau: float | torch.Tensor, reset: bool = False) -> torch.Tensor:
        """This frame's decision.

        Args:
            p_heavy: (N, h, w) heavy probabilities.
            tau: threshold, a float or (N,) per image.
            reset: drop the history first.

        Returns:
            (N, h, w) bool, True = heavy.

        Raises:
            InvalidArgument: p_heavy not 3-D.
        """
        smoothed, z = self._smooth(p_heavy, reset)
        tau_t = torch.as_tensor(tau, dtype=smoothed.dtype, device=smoothed.device)
        tau_t = tau_t.view(-1, 1, 1) if tau_t.dim() == 1 else tau_t
        z_tau = _logit(tau_t)
        if self._heavy is None:
            heavy = z > z_tau
        else:
            heavy = torch.where(self._heavy, z > z_tau - self.margin, z > z_tau + self.margin)
        self._smoothed, self._heavy = smoothed, heavy
        return heavy

    def select(self, p_heavy: torch.Tensor, count: int, reset: bool = False) -> torch.Tensor:
        """This frame's decision with exactly ``count`` heavy elements (over all images of the batch).

        Args:
            p_heavy: (N, h, w) heavy probabilities.
            count: heavy elements wanted, in [0, N h w].
            reset: drop the history first.
        Returns:
            (N, h, w) bool, True = heavy, ``count`` of them: the highest hysteresis scores (module docstring);
            the highest smoothed probabilities on a first frame.
        Raises:
            InvalidArgument: p_heavy not 3-D, count out of range.
        """
        if not 0 <= int(count) <= p_heavy.numel():
            raise InvalidArgument("count must be in [0, elements]", field="count",
                                  expected=f"[0, {p_heavy.numel()}]", actual=repr(count))
        smoothed, z = self._smooth(p_heavy, reset)
        score = z if self._heavy is None else z + torch.where(self._heavy, self.margin, -self.margin)
        heavy = top_count_mask(score, int(count))
        self._smoothed, self._heavy = smoothed, heavy
        return heavy

    def _smooth(self, p_heavy: torch.Tensor, reset: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Check ``p_heavy``, drop the history on a reset or a new shape, and return this frame's smoothed
        probabilities and their logits (the plain probabilities on a first frame)."""
        if p_heavy.dim() != 3:
            raise InvalidArgument("p_heavy must be (N, h, w)", field="p_heavy", expected="3 dimensions",
                                  actual=str(tuple(p_heavy.shape)))
        if reset or (self._smoothed is not None and self._smoothed.shape != p_heavy.shape):
            self.reset()
        p = p_heavy.detach()
        smoothed = p if self._smoothed is None else self.smoothing * self._smoothed + (1.0 - self.smoothing) * p
        return smoothed, _logit(smoothed)
