"""One routed pass per frame: probabilities -> threshold (fixed k, automatic, or budget) -> hysteresis ->
tile mask -> heavy path on the chosen tiles -> optional boundary refinement; plus the expected-MAC formula.

The light output is computed by the caller for the whole frame (in this pipeline the light path, e.g.
TAA, is cheap and runs anyway); the router replaces it by the heavy output on the chosen tiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.routing.budget import BudgetController
from qwplugin.routing.decision import (HEAVY, PROB_EPS, expand_mask, heavy_threshold, k_for_threshold,
                                       kmeans_threshold, refine_boundary, top_count_mask)
from qwplugin.routing.hysteresis import DecisionHysteresis
from qwplugin.routing.tiles import route_tiles, tile_grid

MODES = ("k", "adaptive", "budget")


@dataclass(frozen=True)
class RoutingSettings:
    """Knobs of a :class:`TileRouter`.

    Attributes:
        tile: tile size in input pixels.
        halo: halo in input pixels (>= the heavy path's receptive-field radius for exact tiles).
        scale: output pixels per input pixel.
        costs: (light, heavy) relative costs for the k decision (e.g. MACs per pixel of each path).
        mode: "k" (fixed ``k``), "adaptive" (PCSR's 2-cluster k-means per frame) or "budget" (a
            :class:`~qwplugin.routing.budget.BudgetController` picks k).
        k: the cost exponent in mode "k".
        refine: PCSR's 3x3 refinement of easy pixels next to hard ones, on the output.
        hysteresis: temporal hysteresis on the decision.
        max_batch: tiles per heavy call (None: all chosen tiles in one batch).
        pad_mode: how the gather fills the halo outside the frame.
        full_frame: run the heavy path once on the whole frame when the chosen tiles' patches would hold
            at least as many pixels (see :func:`~qwplugin.routing.tiles.route_tiles`).
    """

    tile: int = 16
    halo: int = 8
    scale: int = 1
    costs: tuple[float, float] = (1.0, 10.0)
    mode: str = "k"
    k: float = 0.0
    refine: bool = True
    hysteresis: bool = True
    max_batch: int | None = None
    pad_mode: str = "replicate"
    full_frame: bool = False


@dataclass(frozen=True)
class RoutedFrameInfo:
    """What one routed frame did: heavy tiles, their fraction, the k and threshold used, the time (ms)."""

    heavy_tiles: int
    total_tiles: int
    heavy_fraction: float
    k: float
    tau: float
    ms: float


def expected_macs_per_pixel(heavy_fraction: float, heavy_macs: float, light_macs: float,
                            classifier_macs: float = 0.0, tile: int = 1, halo: int = 0) -> float:
    """``frac * MAC_heavy * ((tile + 2 halo) / tile)^2 + MAC_light + MAC_classifier`` per pixel.

    The light path runs everywhere (it is the fallback under every heavy tile too); the heavy path's
    MACs grow by the halo's area overhead. With ``tile = 1, halo = 0`` and a light path skipped under
    heavy pixels, use ``light_macs * (1 - frac)`` yourself (PCSR's per-pixel form ``sum_j frac_j MAC_j``).
    """
    overhead = ((tile + 2 * halo) / tile) ** 2
    return heavy_fraction * heavy_macs * overhead + light_macs + classifier_macs


class TileRouter:
    """Stateful per-frame tile routing (module docstring).

    Args:
        heavy: the heavy path on patches, (B, C, P, P) -> (B, C_out, scale P, scale P).
        settings: knobs.
        controller: required in mode "budget".
        clock: seconds, for the pass time (default ``time.perf_counter``; tests pass a simulated clock).

    Raises:
        InvalidArgument: unknown mode, or mode "budget" without a controller.
    """

    def __init__(self, heavy: Callable[[torch.Tensor], torch.Tensor], settings: RoutingSettings | None = None,
                 controller: BudgetController | None = None, clock: Callable[[], float] = time.perf_counter):
        settings = settings or RoutingSettings()
        if settings.mode not in MODES:
            raise InvalidArgument("unknown routing mode", field="mode", expected=" / ".join(MODES),
                                  actual=repr(settings.mode))
        if settings.mode == "budget" and controller is None:
            raise InvalidArgument("mode 'budget' needs a BudgetController", field="controller",
                                  expected="a BudgetController", actual="None")
        self.heavy, self.settings, self.controller, self.clock = heavy, settings, controller, clock
        self.hysteresis = DecisionHysteresis() if settings.hysteresis else None
        self.history: list[RoutedFrameInfo] = []

    def reset(self) -> None:
        """Camera cut: drop the decision history."""
        if self.hysteresis is not None:
            self.hysteresis.reset()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor | Callable[[], torch.Tensor], probs: torch.Tensor, light_output: torch.Tensor,
                 reset: bool = False, extra_ms: float = 0.0) -> tuple[torch.Tensor, RoutedFrameInfo]:
        """Route one frame.

        Args:
            x: (N, C, H, W) heavy-path input, or a callable returning it, called only when some tile is
                heavy (so an all-light frame does not pay for preparing the heavy input).
            probs: (N, 2, th, tw) per-tile probabilities (light, heavy), th, tw = ``tile_grid(H, W, tile)``.
            light_output: (N, C_out, scale H, scale W).
            reset: camera cut (hysteresis history dropped first).
            extra_ms: time spent outside the router on this pass (classifier, light path), added to the
                measured time the budget controller sees.

        Returns:
            (output (N, C_out, scale H, scale W), info).

        Raises:
            InvalidArgument: shapes that do not fit (see :func:`~qwplugin.routing.tiles.route_tiles`).
        """
        s = self.settings
        start = self.clock()
        n = light_output.shape[0]
        h, w = light_output.shape[2] // s.scale, light_output.shape[3] // s.scale
        th, tw = tile_grid(h, w, s.tile)
        if probs.dim() != 4 or tuple(probs.shape) != (n, 2, th, tw):
            raise InvalidArgument("probs must be per tile", field="probs", expected=str((n, 2, th, tw)),
                                  actual=str(tuple(probs.shape)))
        if reset:
            self.reset()
        p_heavy = probs[:, HEAVY]
        if s.mode == "adaptive":
            tau_t = kmeans_threshold(p_heavy)
            tau = float(tau_t.mean())
            k = k_for_threshold(tau, s.costs)
        else:
            k = self.controller.choose_k(p_heavy) if s.mode == "budget" else s.k
            tau = heavy_threshold(k, s.costs)
            tau_t = torch.full((n,), tau, dtype=p_heavy.dtype, device=p_heavy.device)
        allowed = int(self.controller.last_commanded * p_heavy.numel() + 1e-9) if s.mode == "budget" else 0
        if s.mode == "budget" and self.hysteresis is not None:
            # the budget sets how many tiles are heavy, the hysteresis which: a dead band on a threshold
            # could leave fewer than commanded (none where the probabilities bunch within it) and stall the
            # controller, which feeds back the measured fraction
            mask = self.hysteresis.select(p_heavy, allowed)
        elif self.hysteresis is not None:
            mask = self.hysteresis.step(p_heavy, tau_t)
        else:
            mask = p_heavy > tau_t.view(-1, 1, 1)
        if s.mode == "budget" and int(mask.sum()) > allowed:
            # never more heavy tiles than commanded (ties at the threshold; the lowest p dropped)
            mask = top_count_mask(torch.where(mask, p_heavy, -1.0), allowed)
        # A threshold at the probability clamp means "everything heavy" / "nothing heavy" (k = -25 / +25):
        # exact, whatever the probabilities and the hysteresis state.
        mask = torch.where(tau_t.view(-1, 1, 1) <= PROB_EPS, True, mask)
        mask = torch.where(tau_t.view(-1, 1, 1) >= 1.0 - PROB_EPS, False, mask)
        if callable(x):
            x = x() if bool(mask.any()) else light_output.new_zeros(n, 1, h, w)
        out = route_tiles(x, self.heavy, light_output, mask, s.tile, s.halo, s.scale, s.max_batch, s.pad_mode,
                          s.full_frame)
        if s.refine and bool(mask.any()) and not bool(mask.all()):
            hard = expand_mask(mask, s.tile * s.scale)[:, :s.scale * h, :s.scale * w]
            out = refine_boundary(out, hard)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        ms = (self.clock() - start) * 1e3 + extra_ms
        heavy_tiles = int(mask.sum())
        info = RoutedFrameInfo(heavy_tiles, mask.numel(), heavy_tiles / mask.numel(), float(k), float(tau), ms)
        if self.controller is not None and s.mode == "budget":
            if reset:  # a first frame is not representative (no history to warp or clip): not measured
                self.controller.skip()
            else:
                self.controller.update(ms, info.heavy_fraction)
        self.history.append(info)
        return out, info
