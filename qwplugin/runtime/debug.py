"""The opt-in integration checker (``ContextDesc(debug_checks=True)``), after FSR 2's debug checking.

It never changes results; it warns (:class:`~qwplugin.runtime.warn.DebugCheckWarning`, also logged on
``qwplugin.runtime``) about inputs that are valid but probably wrong. Each check fires on its first
occurrence and then at most once every ``repeat_every`` frames. The heuristics and their thresholds:

=====================  ==================================================================================
check                  fires when
=====================  ==================================================================================
``color_nonfinite``    the colour had NaN/Inf values (they were replaced by 0; always counted in stats)
``jitter_zero``        jitter was exactly (0, 0) for :data:`ZERO_JITTER_FRAMES` frames in a row: the host
                       is not jittering, so there is nothing to accumulate (FSR 2: never (0, 0))
``jitter_scale``       over the last :data:`JITTER_WINDOW` frames jitter was non-zero but never larger
                       than :data:`SMALL_JITTER_PX`: it looks like NDC or UV units, not pixels (a
                       Halton(2,3) sequence of 16 pixel jitters always reaches |x| >= 0.4)
``motion_ndc``         for :data:`NDC_FRAMES` frames in a row motion was non-zero but its largest
                       component below :data:`NDC_MOTION_MAX_PX`: NDC motion of a real pan of p pixels
                       is 2p/W, e.g. 0.01 for 10 px at 1920 wide; genuine sub-0.05-px motion of the
                       whole image for several frames is rare
``frame_time_seconds`` ``0 < frame_time_ms < 1``: probably seconds, not milliseconds (FSR 2's check)
``jump_without_reset`` no reset, and the previous frame is mostly unusable: more than
                       :data:`JUMP_OFFSCREEN_FRACTION` of the pixels reproject outside the frame, or the
                       median motion exceeds :data:`JUMP_MEDIAN_FRACTION` of the image's larger side, or
                       the mean absolute difference between the current frame and the warped history
                       (network domain, [0, 1)) over reprojected pixels exceeds
                       :data:`JUMP_COLOR_DIFF`: a camera cut or teleport that needed ``reset=True``
``motion_sign``        for :data:`CONVENTION_FRAMES` frames in a row, warping the history with negated
``motion_y_flipped``   motion (or with only y negated) matched the current frame at least
                       :data:`CONVENTION_RATIO` times better than with the motion as given: motion points
                       previous -> current, or +y is up (GL bottom-up), instead of the contract's
                       current -> previous, +y down. Only judged when the median |motion| is at least
                       :data:`CONVENTION_MIN_MOTION_PX`
=====================  ==================================================================================

The history checks cost two extra warps per frame; they run only with ``debug_checks``.
"""

from __future__ import annotations

from collections import deque

import torch

from qwplugin.ops.colour import to_network
from qwplugin.ops.warp import warp_backward
from qwplugin.runtime.validate import FrameTensors
from qwplugin.runtime.warn import DebugCheckWarning, RateLimiter, emit

ZERO_JITTER_FRAMES = 8
JITTER_WINDOW = 16
SMALL_JITTER_PX = 0.05
NDC_FRAMES = 3
NDC_MOTION_MAX_PX = 0.05
JUMP_OFFSCREEN_FRACTION = 0.5
JUMP_MEDIAN_FRACTION = 0.25
JUMP_COLOR_DIFF = 0.3
CONVENTION_FRAMES = 3
CONVENTION_RATIO = 2.0
CONVENTION_MIN_MOTION_PX = 0.5


class DebugChecker:
    """Stateful integration checks over the stream of dispatched frames.

    Args:
        repeat_every: a check that keeps firing warns again at most once every this many frames.
    """

    def __init__(self, repeat_every: int = 120):
        self._limiter = RateLimiter(repeat_every)
        self._zero_jitter_run = 0
        self._jitters: deque[float] = deque(maxlen=JITTER_WINDOW)
        self._ndc_run = 0
        self._convention_runs = {"motion_sign": 0, "motion_y_flipped": 0}
        self.fired: dict[str, int] = {}

    def reset(self) -> None:
        """Forget the per-stream state (after a resize)."""
        self._zero_jitter_run = 0
        self._jitters.clear()
        self._ndc_run = 0
        self._convention_runs = dict.fromkeys(self._convention_runs, 0)

    def _warn(self, check: str, frame_index: int, text: str) -> None:
        self.fired[check] = self.fired.get(check, 0) + 1
        if self._limiter.allow(check, frame_index):
            emit(DebugCheckWarning(f"[qwplugin debug check '{check}', frame {frame_index}] {text}", check),
                 stacklevel=5)

    def check_inputs(self, frame_index: int, ft: FrameTensors) -> None:
        """Checks on the frame alone (colour, jitter, motion scale, frame time)."""
        if ft.nonfinite_color:
            self._warn("color_nonfinite", frame_index,
                       f"color had {ft.nonfinite_color} NaN/Inf values; they were replaced by 0")
        jx, jy = ft.jitter_px
        self._zero_jitter_run = self._zero_jitter_run + 1 if (jx == 0.0 and jy == 0.0) else 0
        if self._zero_jitter_run >= ZERO_JITTER_FRAMES:
            self._warn("jitter_zero", frame_index,
                       f"jitter_px was (0, 0) for {self._zero_jitter_run} frames in a row: render with a "
                       "sub-pixel jitter sequence (qwplugin.ops.halton.jitter_offset_px)")
        self._jitters.append(max(abs(jx), abs(jy)))
        if len(self._jitters) == JITTER_WINDOW and 0.0 < max(self._jitters) < SMALL_JITTER_PX:
            self._warn("jitter_scale", frame_index,
                       f"jitter_px never exceeded {max(self._jitters):.3g} px over {JITTER_WINDOW} frames: "
                       "it looks like NDC or UV units; jitter_px is in render pixels")
        peak = float(ft.motion_px.abs().max())
        self._ndc_run = self._ndc_run + 1 if 0.0 < peak < NDC_MOTION_MAX_PX else 0
        if self._ndc_run >= NDC_FRAMES:
            self._warn("motion_ndc", frame_index, f"motion_px was non-zero but below {NDC_MOTION_MAX_PX} px "
                       f"everywhere for {self._ndc_run} frames: it looks like NDC or UV units; multiply by "
                       "(W/2, H/2) (NDC) or (W, H) (UV) to get render pixels")
        t = ft.frame_time_ms
        if t is not None and 0.0 < t < 1.0:
            self._warn("frame_time_seconds", frame_index,
                       f"frame_time_ms={t:g} looks like seconds; frame_time_ms is in milliseconds")

    def check_history(self, frame_index: int, ft: FrameTensors, history_linear: torch.Tensor | None) -> None:
        """Checks that compare the frame with the warped history (skipped on reset or without history)."""
        if ft.reset or history_linear is None or history_linear.shape[-2:] != ft.color.shape[-2:]:
            self._convention_runs = dict.fromkeys(self._convention_runs, 0)
            return
        h, w = ft.color.shape[-2:]
        motion = ft.motion_px
        current = to_network(ft.color, ft.exposure)
        history = to_network(history_linear, ft.exposure)
        warped, valid = warp_backward(history, motion)
        offscreen = 1.0 - float(valid.mean())
        median_motion = float(motion.norm(dim=1).median())
        error = _masked_mean_abs(current, warped, valid)
        reasons = []
        if offscreen > JUMP_OFFSCREEN_FRACTION:
            reasons.append(f"{offscreen:.0%} of the pixels reproject outside the frame")
        if median_motion > JUMP_MEDIAN_FRACTION * max(h, w):
            reasons.append(f"the median motion is {median_motion:.1f} px")
        if error is not None and error > JUMP_COLOR_DIFF:
            reasons.append(f"the warped history differs from the frame by {error:.2f} on average")
        if reasons:
            self._warn("jump_without_reset", frame_index, "; ".join(reasons) + ": a camera cut or teleport "
                       "without Frame(reset=True)? The history is probably unusable")
        if median_motion < CONVENTION_MIN_MOTION_PX or error is None:
            self._convention_runs = dict.fromkeys(self._convention_runs, 0)
            return
        flips = {"motion_sign": torch.tensor([-1.0, -1.0]), "motion_y_flipped": torch.tensor([1.0, -1.0])}
        for check, sign in flips.items():
            alt_warped, alt_valid = warp_backward(history, motion * sign.view(1, 2, 1, 1).to(motion))
            alt_error = _masked_mean_abs(current, alt_warped, alt_valid * valid)
            better = alt_error is not None and alt_error * CONVENTION_RATIO < error
            self._convention_runs[check] = self._convention_runs[check] + 1 if better else 0
            if self._convention_runs[check] >= CONVENTION_FRAMES:
                what = ("negated motion (previous -> current?)" if check == "motion_sign"
                        else "motion with y negated (+y up, GL bottom-up?)")
                self._warn(check, frame_index, f"the history matches the frame much better with {what} for "
                           f"{self._convention_runs[check]} frames; the contract is current -> previous in "
                           "render pixels, +x right, +y down")


def _masked_mean_abs(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float | None:
    """Mean |a - b| over pixels where mask is 1 (all channels), or None when no pixel is valid."""
    count = float(mask.sum())
    if count == 0.0:
        return None
    return float(((a - b).abs() * mask).sum()) / (count * a.shape[1])
