"""``qwnet-routed``: QW-Net on the hard tiles only, the tuned TAA everywhere else (PCSR-style routing).

Per frame (all on the frame's own buffers, the classifier before either expensive step):

1. **light path**: the tuned TAA (:class:`qwplugin.taa.TemporalAA`, ``TAAConfig()``) runs on the whole
   frame, exactly as the ``taa`` method does (pre-exposed colour, depth, jitter);
2. **features** (:func:`qwplugin.routing.features.frame_features`): disocclusion from depth and motion,
   motion length, the TAA clip distance of the light path's history, local contrast;
3. **classifier**: per-tile (light, heavy) probabilities, from the trained
   :class:`~qwplugin.routing.classifier.RoutingClassifier` (``qwplugin/weights/routing-qwnet-taa.safetensors``,
   checksum in the manifest) or, for ``qwnet-routed-rule``, a fixed hand-set rule (:func:`rule_probabilities`);
4. **decision** (:class:`qwplugin.routing.router.TileRouter`): fixed ``k`` (PCSR's ``p / c^k``) or a
   :class:`~qwplugin.routing.budget.BudgetController` that picks k so the measured pass time fits
   ``budget_ms``; temporal hysteresis; k = -25 routes everything heavy, k = +25 nothing;
5. **heavy path** on the chosen tiles only: their ``tile + 2 halo`` patches of (colour, warped history,
   depth) are gathered into one batch and QW-Net (int4 integer program or fp32, loaded by
   :class:`~qwplugin.runtime.Context`) runs on that batch; the halo is cropped and the tiles are written
   over the TAA output. When the patches would hold at least as many pixels as the frame, QW-Net runs once
   on the whole frame instead (so the heavy cost never exceeds the always-heavy model's).

**Histories.** Each path keeps its own, consistently:

- the TAA's history is its own full-frame output (it runs everywhere, so it is exactly the history of an
  always-TAA run: with nothing routed heavy the output equals the ``taa`` method's, frame after frame);
- QW-Net's history is the routed output (what the viewer saw), warped as the Context warps its own
  output: with everything routed heavy, the output equals the ``qwnet-*`` method's, frame after frame.

**Exactness of tiles.** QW-Net's U-Net has a receptive field far larger than any affordable halo, so a
heavy tile differs from the full-frame QW-Net near its border (the halo is replicate-padded at the frame
border). The default halo (16 px around 64 px tiles, 2.25x the tile's pixels) is a cost/quality choice,
measured in docs/sr_methods.md.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.model.recurrent import history_warp_of, warp_history_nw
from qwplugin.ops.colour import from_network, to_network
from qwplugin.routing.budget import BudgetController, BudgetReport
from qwplugin.routing.classifier import RoutingClassifier
from qwplugin.routing.features import frame_features
from qwplugin.routing.router import RoutedFrameInfo, RoutingSettings, TileRouter
from qwplugin.runtime.desc import ContextDesc
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.methods import _ArrayMethod, _nchw
from qwplugin.runtime.reconstructor import MethodInfo
from qwplugin.runtime.validate import check_frame, frame_to_tensors
from qwplugin.taa import TAAConfig, TemporalAA

STAGES = ("light", "features", "classifier", "route", "total")
"""Timed stages (ms): the TAA, the classifier inputs, the classifier, decision + heavy tiles + scatter, the pass."""
TIMING_WINDOW = 60
"""Frames the timing medians cover."""
BUDGET_MAX_STEP = 0.125
"""Per frame, the budget controller raises the heavy fraction by at most this much (its ``max_step``)."""
DEFAULT_TILE = 64
DEFAULT_HALO = 16
ROUTING_COSTS = (1.0, 10.0)
"""(light, heavy) relative costs of the k decision: ``tau(k) = sigmoid(k log 10)`` (k = 0: argmax,
k = 1: p_heavy > 0.91, k = -1: p_heavy > 0.09). A knob scale, not a measurement."""
RULE_WEIGHTS = {"disocclusion": 6.0, "clip": 3.0, "contrast": 1.5, "motion": 0.5, "bias": -2.5}
"""The hand-set rule of ``qwnet-routed-rule`` on tile means of the features (:func:`rule_probabilities`)."""


def rule_probabilities(features: torch.Tensor, tile: int) -> torch.Tensor:
    """(N, 4, H, W) features -> (N, 2, th, tw) (light, heavy) probabilities by a fixed rule, not trained:
    ``p_heavy = sigmoid(6 d + 3 c + 1.5 l + 0.5 m - 2.5)`` on the tile means of disocclusion d,
    ``log1p`` clip distance c, ``log1p`` local contrast l and ``log1p`` motion length m."""
    h, w = features.shape[2:]
    pad = (0, (-w) % tile, 0, (-h) % tile)
    f = torch.nn.functional.pad(features, pad, mode="replicate") if any(pad) else features
    m = torch.nn.functional.avg_pool2d(f, tile)
    r = RULE_WEIGHTS
    score = (r["disocclusion"] * m[:, 0] + r["motion"] * m[:, 1] + r["clip"] * m[:, 2] + r["contrast"] * m[:, 3]
             + r["bias"])
    p = torch.sigmoid(score)
    return torch.stack([1.0 - p, p], dim=1)


@dataclass(frozen=True)
class RoutedStats:
    """Counters of a routed reconstructor (``RoutedQWNet.stats``).

    Attributes:
        frames: frames dispatched.
        heavy_fraction_last, heavy_fraction_mean, heavy_fraction_worst: fraction of tiles routed heavy.
        heavy_pixels_last: pixels the heavy path processed on the last frame (patches with halo, or the
            whole frame when it ran on the whole frame).
        k_last: the k used on the last frame.
        ms_last, ms_worst: measured pass time (ms).
        budget_ms: the budget, or None (fixed k).
        frames_over_budget: frames whose pass took longer than the budget.
        timing_last_ms, timing_median_ms: per stage (``light``, ``features``, ``classifier``, ``route``,
            ``total``).
    """

    frames: int
    heavy_fraction_last: float
    heavy_fraction_mean: float
    heavy_fraction_worst: float
    heavy_pixels_last: int
    k_last: float
    ms_last: float
    ms_worst: float
    budget_ms: float | None
    frames_over_budget: int
    timing_last_ms: dict[str, float] = field(default_factory=dict)
    timing_median_ms: dict[str, float] = field(default_factory=dict)


class RoutedQWNet(_ArrayMethod):
    """QW-Net on routed tiles over the tuned TAA (module docstring); the reconstructor protocol.

    Args:
        render_size: ``(width, height)``.
        precision: QW-Net's ``"int4"`` (integer program) or ``"fp32"``.
        model, backend, int4_backend, seed: as :class:`~qwplugin.runtime.desc.ContextDesc`.
        classifier: a :class:`RoutingClassifier` (per tile, ``classifier.tile == tile``), or ``"rule"`` for
            :func:`rule_probabilities`.
        k: fixed cost exponent (ignored with ``budget_ms``).
        budget_ms: time budget per frame (ms): a :class:`BudgetController` picks k each frame.
        tile, halo: in render pixels.
        hysteresis: temporal hysteresis on the decision.
        refine: PCSR's 3x3 refinement at tile seams (off by default: it blurs the light pixels next to
            heavy tiles).
        clock: seconds (default ``time.perf_counter``); tests inject a simulated clock.
        name, label: what :attr:`info` reports.

    Raises:
        InvalidArgument: bad size, precision, tile, halo, k, budget or classifier; from the Context (weights).
    """

    def __init__(self, render_size: tuple[int, int], *, precision: str = "int4", model: str = "qwnet",
                 backend: str | None = None, int4_backend: str | None = None, seed: int | None = None,
                 classifier: RoutingClassifier | str = "rule", k: float = 0.0, budget_ms: float | None = None,
                 tile: int = DEFAULT_TILE, halo: int = DEFAULT_HALO, hysteresis: bool = True, refine: bool = False,
                 clock: Callable[[], float] = time.perf_counter, name: str = "qwnet-routed",
                 label: str | None = None, classifier_source: str = "hand-set rule (not trained)"):
        from qwplugin.runtime.context import Context

        super().__init__(render_size)
        if not isinstance(tile, int) or tile < 16 or tile % 16:
            raise InvalidArgument("tile must be a multiple of 16 (QW-Net's size multiple)", field="tile",
                                  expected="16, 32, 64, ...", actual=repr(tile))
        if not isinstance(halo, int) or halo < 0 or halo % 8:
            raise InvalidArgument("halo must be a multiple of 8 >= 0", field="halo", expected="0, 8, 16, ...",
                                  actual=repr(halo))
        if not (isinstance(k, (int, float)) and math.isfinite(k)):
            raise InvalidArgument("k must be a finite number", field="k", expected="e.g. -25 .. 25", actual=repr(k))
        if budget_ms is not None and not (isinstance(budget_ms, (int, float)) and budget_ms > 0):
            raise InvalidArgument("budget must be > 0 ms", field="budget_ms", expected="> 0", actual=repr(budget_ms))
        if classifier != "rule" and not (isinstance(classifier, RoutingClassifier) and classifier.tile == tile):
            raise InvalidArgument("classifier must be 'rule' or a per-tile RoutingClassifier of this tile size",
                                  field="classifier", expected=f"'rule' or RoutingClassifier(tile={tile})",
                                  actual=repr(classifier) if isinstance(classifier, str) else
                                  f"{type(classifier).__name__}(tile={getattr(classifier, 'tile', None)})")
        given = {"backend": backend, "int4_backend": int4_backend, "seed": seed}
        desc = ContextDesc(render_size=render_size, model=model, precision=precision,
                           **{key: v for key, v in given.items() if v is not None})
        self._heavy_ctx = Context(desc, name=f"qwnet-{precision}")
        self._device = self._heavy_ctx._device
        self._net = self._heavy_ctx._model
        if getattr(getattr(self._net, "config", None), "taa_candidate", None) is not None:
            self._heavy_ctx.close()
            raise InvalidArgument("routing a model with a TAA candidate (ModelConfig.taa_candidate) is not "
                                  "implemented yet: its heavy tiles would need the candidate of the routed history",
                                  field="model", expected="a QW-Net without taa_candidate (e.g. 'qwnet')",
                                  actual=repr(model))
        if getattr(getattr(self._net, "config", None), "output_sharpen", 0.0):
            self._heavy_ctx.close()
            raise InvalidArgument("routing a model with display sharpening (ModelConfig.output_sharpen) is not "
                                  "implemented yet: its tiles would be shown unsharpened", field="model",
                                  expected="a model with output_sharpen 0", actual=repr(model))
        self._net_depth = self._heavy_ctx.uses_depth
        self._desc = desc
        self._taa_config = TAAConfig()
        self._taa = TemporalAA(self._taa_config)
        self._classifier = classifier if classifier == "rule" else classifier.to(self._device).eval()
        self._classifier_source = classifier_source
        self._budget_ms = None if budget_ms is None else float(budget_ms)
        controller = None if budget_ms is None else BudgetController(budget_ms, ROUTING_COSTS,
                                                                     max_step=BUDGET_MAX_STEP)
        settings = RoutingSettings(tile=tile, halo=halo, costs=ROUTING_COSTS, mode="budget" if controller else "k",
                                   k=float(k), refine=refine, hysteresis=hysteresis, full_frame=True)
        self._clock = clock
        self._router = TileRouter(self._heavy_patches, settings, controller, clock=clock)
        self._history: torch.Tensor | None = None
        self._prev_depth: torch.Tensor | None = None
        self._heavy_pixels = 0
        self._timing: deque[dict[str, float]] = deque(maxlen=TIMING_WINDOW)
        self._frame_log: list[tuple[RoutedFrameInfo, int]] = []
        self._name = name
        self._label = label or name
        self._exposure = 1.0
        self.keep_intermediates = False
        """When True, ``last_intermediates`` holds the last frame's light output, features and probabilities
        (training data for :mod:`qwplugin.routing.train`)."""
        self.last_intermediates: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------------------------------------------

    @property
    def info(self) -> MethodInfo:
        """What runs: both paths, the classifier, the knob; ``details`` has the last heavy fraction."""
        s = self._router.settings
        knob = f"budget {self._budget_ms:g} ms" if self._budget_ms is not None else f"k = {s.k:g}"
        b = self._heavy_ctx.backend_info
        last = self._frame_log[-1][0].heavy_fraction if self._frame_log else None
        desc = (f"QW-Net {b.precision_detail} on routed {s.tile}px tiles (halo {s.halo}px) over the tuned TAA; "
                f"classifier: {self._classifier_source}; {knob}; hysteresis {'on' if s.hysteresis else 'off'}")
        return MethodInfo(name=self._name, label=self._label, description=desc, uses_depth=True, uses_jitter=True,
                          family="network", trained=b.trained,
                          summary=f"routed {knob}, heavy {'-' if last is None else f'{100 * last:.0f}%'}",
                          details={"device": b.device, "precision_detail": b.precision_detail, "weights": b.weights,
                                   "classifier": self._classifier_source, "tile": s.tile, "halo": s.halo,
                                   "k": None if self._budget_ms is not None else s.k, "budget_ms": self._budget_ms,
                                   "heavy_fraction_last": last},
                          render_size=self._size, display_size=self._size)

    @property
    def stats(self) -> RoutedStats:
        """Heavy fractions (last, mean, worst), k, pass times and per-stage timings so far."""
        fr = [i.heavy_fraction for i, _ in self._frame_log]
        ms = [i.ms for i, _ in self._frame_log]
        last = self._frame_log[-1] if self._frame_log else None
        return RoutedStats(
            frames=len(fr), heavy_fraction_last=fr[-1] if fr else 0.0,
            heavy_fraction_mean=sum(fr) / len(fr) if fr else 0.0, heavy_fraction_worst=max(fr, default=0.0),
            heavy_pixels_last=last[1] if last else 0, k_last=last[0].k if last else float("nan"),
            ms_last=ms[-1] if ms else 0.0, ms_worst=max(ms, default=0.0), budget_ms=self._budget_ms,
            frames_over_budget=sum(t > self._budget_ms for t in ms) if self._budget_ms else 0,
            timing_last_ms=dict(self._timing[-1]) if self._timing else {},
            timing_median_ms={k: statistics.median(t[k] for t in self._timing) for k in STAGES} if self._timing else {})

    @property
    def frame_log(self) -> tuple[RoutedFrameInfo, ...]:
        """One :class:`RoutedFrameInfo` per dispatched frame (heavy tiles, fraction, k, tau, ms)."""
        return tuple(i for i, _ in self._frame_log)

    def report(self) -> BudgetReport:
        """Per-frame heavy fractions, ms and k (``worst_ms``, ``worst_heavy_fraction``...); the budget is
        ``inf`` with a fixed k."""
        log = self.frame_log
        return BudgetReport(tuple(i.heavy_fraction for i in log), tuple(i.ms for i in log), tuple(i.k for i in log),
                            self._budget_ms if self._budget_ms is not None else float("inf"))

    def reset(self) -> None:
        """Drop both histories and the decision history."""
        super().reset()
        self._history = self._prev_depth = None
        self._taa.reset()
        self._router.reset()

    def close(self) -> None:
        """Release both paths. Idempotent."""
        self._taa.close()
        self._heavy_ctx.close()
        self._history = self._prev_depth = self._net = None
        super().close()

    # ------------------------------------------------------------------------------------------------------

    def _heavy_patches(self, x: torch.Tensor) -> torch.Tensor:
        """QW-Net on (B, 6 or 7, P, P) patches of (colour, warped history[, depth]) in the network domain;
        returns linear HDR (B, 3, P, P). Counts the pixels it processes."""
        self._heavy_pixels += x.shape[0] * x.shape[2] * x.shape[3]
        depth = x[:, 6:7] if self._net_depth else None
        return from_network(self._net(x[:, 0:3], x[:, 3:6], depth), self._exposure)

    def _probabilities(self, features: torch.Tensor) -> torch.Tensor:
        if self._classifier == "rule":
            return rule_probabilities(features, self._router.settings.tile)
        return self._classifier(features)

    @torch.no_grad()
    def dispatch(self, frame: Frame):
        """Reconstruct one frame (module docstring); the routed output becomes QW-Net's history.

        Returns:
            (H, W, 3) float32 linear HDR (numpy for numpy colour, else a tensor on the context's device).

        Raises:
            InvalidArgument: a bad frame field (depth is required: the TAA and the disocclusion test use it);
                nothing changes.
            InvalidOperation: after ``close()``.
        """
        self._require_open("dispatch")
        w, h = self._size
        d = self._desc
        values = check_frame(frame, (h, w), needs_depth=True, depth_convention=d.depth_convention)
        start = self._clock()
        times: dict[str, float] = {}
        ft = frame_to_tensors(frame, self._device, values, depth_convention=d.depth_convention,
                              camera_near=d.camera_near, camera_far=d.camera_far, use_depth=True)
        reset = bool(ft.reset)
        # light path, exactly as the ``taa`` method runs it
        color_taa = _nchw(frame.color, 3).to(self._device)
        motion = ft.motion_px
        depth_taa = _nchw(frame.depth, 1).to(self._device).reshape(1, 1, h, w)
        taa_history = None if reset else self._taa._history
        light = self._taa._step(color_taa * ft.exposure, motion, reset, ft.jitter_px, depth_taa) / ft.exposure
        t_light = self._clock()
        times["light"] = (t_light - start) * 1e3
        has_history = self._history is not None and not reset
        feats = frame_features(ft.color, motion, ft.depth, self._prev_depth if has_history else None,
                               None if taa_history is None else taa_history / ft.exposure,
                               self._taa_config.gamma, has_history)
        t_feat = self._clock()
        times["features"] = (t_feat - t_light) * 1e3
        probs = self._probabilities(feats)
        t_cls = self._clock()
        times["classifier"] = (t_cls - t_feat) * 1e3
        # heavy input: colour, QW-Net's warped history (the routed output), depth; network domain. Prepared
        # only when some tile is heavy.
        self._exposure = ft.exposure
        previous = self._history

        def heavy_input() -> torch.Tensor:
            color_nw = to_network(ft.color, ft.exposure)
            if not has_history:
                history_nw = color_nw
            else:
                history_nw = warp_history_nw(to_network(previous, ft.exposure), motion, color_nw,
                                             history_warp_of(self._net))
            return torch.cat([color_nw, history_nw] + ([ft.depth] if self._net_depth else []), dim=1)

        x = heavy_input
        self._heavy_pixels = 0
        result, info = self._router(x, probs, light, reset=reset, extra_ms=(self._clock() - start) * 1e3)
        result = torch.nan_to_num(result, nan=0.0, posinf=0.0, neginf=0.0)
        times["route"] = (self._clock() - t_cls) * 1e3
        times["total"] = info.ms
        self._history = result
        # a copy: the frame's depth may be a view of a caller's or a transfer's reused buffer (the GL bridge)
        self._prev_depth = None if ft.depth is None else ft.depth.clone()
        if self.keep_intermediates:
            self.last_intermediates = {"light": light, "features": feats, "probs": probs, "output": result}
        self._timing.append(times)
        self._frame_log.append((info, self._heavy_pixels))
        out = result[0].permute(1, 2, 0)
        return out.cpu().numpy().copy() if ft.as_numpy else out.clone(memory_format=torch.contiguous_format)
