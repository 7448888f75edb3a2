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
``motion_y_flipped``   the motion convention test (below) found that the motion with its y component
                       negated reprojects the previous input frame onto this one clearly better than
                       the motion as given: +y up (GL NDC/UV motion, bottom-up rows) instead of +y down
``motion_sign``        the same test found that the negated motion does: the motion points previous ->
                       current (Unity-style, or ``cur - prev`` in the shader) instead of current ->
                       previous
``motion_mismatch``    the same test found that zero motion does, and neither flip does: the motion does
                       not describe how the image moves (a scale mistake of about 3x or more, e.g. UV
                       or NDC scaled twice)
=====================  ==================================================================================

**The motion convention test.** The checker keeps a copy of the previous *input* colour (not the
previous output: an untrained or blurry network, or the wrong motion itself, distort that) and, on every
frame that is not a reset (``Frame.reset``, ``Context.reset()``, a resize), reprojects it onto the
current frame at a regular grid of at most :data:`CONVENTION_MAX_SAMPLES` pixels (every s-th pixel in x
and y). Pixel ``p`` of the current frame shows the scene at ``p + 0.5 + j_cur``; that point was at
``p + 0.5 + j_cur + m`` in the previous frame, whose pixel ``q`` shows ``q + 0.5 + j_prev``, so the
previous colour is sampled (bilinear, network domain ``x / (1 + x)``) at the fractional pixel index
``p + m + j_cur - j_prev`` for four motions ``m``: as given, with y negated, negated, and zero. A sample
informs a candidate when the candidate moves its sample point by at least
:data:`CONVENTION_MIN_SHIFT_PX` (``2 |m_y|`` for the y flip, ``2 |m|`` for the sign, ``|m|`` for zero
motion) and all four sample points lie inside the frame; a candidate is judged on a frame with at least
:data:`CONVENTION_MIN_SAMPLES` informative samples. It *explains the frame pair better* when the mean
absolute error of its reprojection over those samples, times :data:`CONVENTION_RATIO`, is below that of
the motion as given. Per frame the best-explaining flip wins (with purely vertical motion both flips are
the same motion: ``motion_sign`` is reported and the message says either); zero motion wins only when
no flip explains the pair. A check warns when its candidate won :data:`CONVENTION_FRAMES` of its judged
frames in a row: a frame on which a candidate cannot be judged (too little motion, or too little
vertical motion for the y flip) leaves its count unchanged, a judged frame that it does not win restarts
it. A y flip of nearly horizontal motion is therefore never reported, which is also where it costs
little.

Measured on the project's scenes (``mixed`` and ``fast_motion``, 19 rendered sequences of 8 to 12
frames, 96x64 to 320x180, :func:`convention_ratios`): with the correct motion every flip candidate's
error ratio was >= 1.15 (median 3.4; worse than the given motion); with a y-flipped motion the correction
had 0.08 to 0.87 (median 0.32), with a negated motion 0.09 to 0.50 (median 0.26). The threshold
``1 / CONVENTION_RATIO = 0.67`` sits between; ``tests/qwplugin/test_runtime_debug_scenes.py`` renders two
of these sequences and checks that the correct motion raises nothing and each mistake raises its check.

Cost: one copy of the colour per frame and 16 bilinear taps per sample (at most
:data:`CONVENTION_MAX_SAMPLES`), plus one full-frame warp of the history for ``jump_without_reset``; all
only with ``debug_checks``.
"""

from __future__ import annotations

import math
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
"""Judged frames in a row with the same suspected motion mistake before it is reported."""
CONVENTION_RATIO = 1.5
"""How much smaller (factor) a candidate's mean reprojection error must be than the given motion's."""
CONVENTION_MIN_SHIFT_PX = 1.0
"""A sample informs a candidate when the candidate moves its sample point by at least this (pixels)."""
CONVENTION_MIN_SAMPLES = 32
"""Informative in-frame samples needed to judge a candidate on one frame."""
CONVENTION_MAX_SAMPLES = 16384
"""At most this many pixels (a regular grid) are reprojected per frame."""
CONVENTION_AMBIGUOUS = 1.2
"""Both flips explain the pair and their error ratios are within this factor: mostly vertical motion."""

FIX_HINT = ("motion_px must point from the current pixel to where it was in the previous frame "
            "(previous = current + motion), in render pixels, +x right, +y down")
_MISTAKES = {
    "motion_y_flipped": ("with y negated", "y points up (GL NDC/UV motion or bottom-up rows?): negate "
                         "the y component (Bridge: motion_vector_scale=(sx, -sy))"),
    "motion_sign": ("with the motion negated", "the motion points from the previous to the current position "
                    "(Unity-style, or cur - prev in the shader?): negate it (Bridge: a negative "
                    "motion_vector_scale)"),
    "motion_mismatch": ("with zero motion", "the motion does not describe how the image moves (a wrong "
                        "scale of about 3x or more? NDC motion needs (W/2, -H/2), UV motion (W, -H))"),
}


class DebugChecker:
    """Stateful integration checks over the stream of dispatched frames.

    Args:
        repeat_every: a check that keeps firing warns again at most once every this many frames.

    Attributes:
        fired: how often each check found its mistake (``{check: count}``), warned or rate-limited.
        last_convention: the motion convention test of the last frame that ran it: ``{candidate:
            (error_ratio, informative_samples)}`` with ``error_ratio`` = candidate error / given error
            (None when not judged), or an empty dict; for diagnostics and tests.
    """

    def __init__(self, repeat_every: int = 120):
        self._limiter = RateLimiter(repeat_every)
        self._zero_jitter_run = 0
        self._jitters: deque[float] = deque(maxlen=JITTER_WINDOW)
        self._ndc_run = 0
        self._prev_color: torch.Tensor | None = None  # previous input colour (linear, a copy)
        self._prev_exposure = 1.0
        self._prev_jitter = (0.0, 0.0)
        self._runs = dict.fromkeys(_MISTAKES, 0)  # judged frames in a row each candidate explained best
        self._grid_cache: tuple[tuple, torch.Tensor, torch.Tensor] | None = None
        self.fired: dict[str, int] = {}
        self.last_convention: dict[str, tuple[float | None, int]] = {}

    def reset(self) -> None:
        """Forget the per-stream state (after a resize)."""
        self._zero_jitter_run = 0
        self._jitters.clear()
        self._ndc_run = 0
        self._prev_color = None
        self._runs = dict.fromkeys(_MISTAKES, 0)

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
        """Checks across frames: the motion convention test against the previous input, and the warped
        history against the frame (both skipped on a reset or without history).

        Args:
            frame_index: the context's frame counter (for the messages and the rate limit).
            ft: this frame's checked tensors (colour (1, 3, H, W) linear, motion (1, 2, H, W) pixels).
            history_linear: the previous output (1, 3, H, W) linear HDR, or None after a reset, a resize or
                ``Context.reset()`` (no judgement across those).
        """
        self._check_motion_convention(frame_index, ft, fresh=ft.reset or history_linear is None)
        if ft.reset or history_linear is None or history_linear.shape[-2:] != ft.color.shape[-2:]:
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

    # ------------------------------------------------------------------------------------------------------
    # the motion convention test (see the module docstring)

    def _sample_grid(self, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column indices (N,) of the regular sample grid for an (h, w) frame (cached)."""
        key = (h, w, str(device))
        if self._grid_cache is None or self._grid_cache[0] != key:
            stride = max(1, math.ceil(math.sqrt(h * w / CONVENTION_MAX_SAMPLES)))
            rows = torch.arange(stride // 2, h, stride, device=device)
            cols = torch.arange(stride // 2, w, stride, device=device)
            rr, cc = torch.meshgrid(rows, cols, indexing="ij")
            self._grid_cache = (key, rr.reshape(-1), cc.reshape(-1))
        return self._grid_cache[1], self._grid_cache[2]

    def _check_motion_convention(self, frame_index: int, ft: FrameTensors, fresh: bool) -> None:
        prev, prev_exposure, prev_jitter = self._prev_color, self._prev_exposure, self._prev_jitter
        # A copy: the frame's colour may share memory with a host array that is reused next frame.
        self._prev_color = ft.color.detach().clone()
        self._prev_exposure, self._prev_jitter = ft.exposure, ft.jitter_px
        self.last_convention = {}
        if fresh or prev is None or prev.shape != ft.color.shape:
            self._runs = dict.fromkeys(_MISTAKES, 0)
            return
        ratios = convention_ratios(ft.color, ft.motion_px, ft.jitter_px, ft.exposure, prev, prev_jitter,
                                   prev_exposure, *self._sample_grid(*ft.color.shape[-2:], ft.color.device))
        self.last_convention = ratios
        judged = {k: r for k, (r, _) in ratios.items() if r is not None}
        passing = {k: r for k, r in judged.items() if r * CONVENTION_RATIO < 1.0}
        flips = {k: r for k, r in passing.items() if k != "motion_mismatch"}
        ambiguous = len(flips) == 2 and max(flips.values()) < CONVENTION_AMBIGUOUS * min(flips.values())
        if ambiguous:
            winner = "motion_sign"
        elif flips:
            winner = min(flips, key=flips.get)
        else:
            winner = "motion_mismatch" if "motion_mismatch" in passing else None
        for check in judged:  # a candidate too still to judge on this frame keeps its run
            self._runs[check] = self._runs[check] + 1 if check == winner else 0
        if winner is None or self._runs[winner] < CONVENTION_FRAMES:
            return
        what, cause = _MISTAKES[winner]
        ratio, samples = ratios[winner]
        also = (" (with this mostly vertical motion, y negated explains it as well: either mistake)"
                if ambiguous else "")
        self._warn(winner, frame_index,
                   f"the previous frame reprojects onto this one {_factor(ratio)} better {what} than with "
                   f"the motion as given{also}, on {self._runs[winner]} frames ({samples} sampled pixels): "
                   f"{cause}. {FIX_HINT}")


def convention_ratios(current: torch.Tensor, motion_px: torch.Tensor, jitter_px: tuple[float, float],
                      exposure: float, previous: torch.Tensor, prev_jitter_px: tuple[float, float],
                      prev_exposure: float, rows: torch.Tensor, cols: torch.Tensor
                      ) -> dict[str, tuple[float | None, int]]:
    """Reprojection error of each candidate motion mistake relative to the motion as given.

    The previous frame is sampled (bilinear, in the network domain ``to_network(c, exposure)``: each tap
    is tonemapped, then interpolated) at the fractional pixel index
    ``p + m + jitter_px - prev_jitter_px`` of each sampled pixel ``p`` for the candidate motions ``m``
    (as given, y negated, negated, zero) and compared with the current frame at ``p``.

    Args:
        current: (1, 3, H, W) this frame's colour, linear HDR.
        motion_px: (1, 2, H, W) render pixels, as given (current -> previous, +y down if correct).
        jitter_px: this frame's jitter (x, y) in render pixels.
        exposure: this frame's pre-exposure (> 0).
        previous: (1, 3, H, W) the previous input frame, linear HDR.
        prev_jitter_px: the previous frame's jitter (x, y) in render pixels.
        prev_exposure: the previous frame's pre-exposure (> 0).
        rows, cols: (N,) long indices of the sampled pixels.

    Returns:
        ``{"motion_y_flipped" | "motion_sign" | "motion_mismatch": (ratio, n)}``: ``ratio`` = mean
        absolute error (over channels and the candidate's ``n`` informative samples) of the reprojection
        with y negated / negated / zero motion, divided by that of the motion as given (< 1: the
        candidate explains the pair better); None when ``n < CONVENTION_MIN_SAMPLES`` or the given
        motion's error there is 0.

    Examples:
        >>> import torch
        >>> ramp = torch.arange(64.0).repeat(64, 1) / 64            # a horizontal ramp, (64, 64)
        >>> prev = torch.stack([ramp] * 3)[None]                       # (1, 3, 64, 64)
        >>> cur = torch.roll(prev, shifts=2, dims=3)                   # moved 2 px right
        >>> motion = torch.zeros(1, 2, 64, 64); motion[:, 0] = 2.0     # wrong: points forward
        >>> rr, cc = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
        >>> r = convention_ratios(cur, motion, (0.0, 0.0), 1.0, prev, (0.0, 0.0), 1.0, rr.flatten(),
        ...                       cc.flatten())
        >>> r["motion_sign"][0] < 0.1, r["motion_y_flipped"]
        (True, (None, 0))
    """
    _, _, h, w = current.shape
    dtype = current.dtype
    index = rows * w + cols
    cur = to_network(current.reshape(3, h * w).index_select(1, index), exposure)  # (3, N)
    m = motion_px.reshape(2, h * w).index_select(1, index).to(dtype)
    mx, my = m[0], m[1]
    zero = torch.zeros_like(mx)
    # candidates: as given, y negated, negated, zero -> (4, N) sample positions
    cand_x = torch.stack([mx, mx, -mx, zero]) + (cols.to(dtype) + (jitter_px[0] - prev_jitter_px[0]))
    cand_y = torch.stack([my, -my, -my, zero]) + (rows.to(dtype) + (jitter_px[1] - prev_jitter_px[1]))
    sampled, inside = _bilinear(previous.reshape(3, h * w), h, w, cand_x.reshape(-1), cand_y.reshape(-1),
                                prev_exposure)
    errors = (sampled.view(3, 4, -1) - cur.unsqueeze(1)).abs().mean(0)  # (4, N)
    inside = inside.view(4, -1).all(0)
    speed = torch.sqrt(mx * mx + my * my)
    # candidate -> (its row in errors, how far it moves each sample point from the given motion's)
    shift = {"motion_y_flipped": (1, 2.0 * my.abs()), "motion_sign": (2, 2.0 * speed),
             "motion_mismatch": (3, speed)}
    out: dict[str, tuple[float | None, int]] = {}
    for name, (row, moved) in shift.items():
        informative = (inside & (moved >= CONVENTION_MIN_SHIFT_PX)).to(dtype)
        n = int(informative.sum())
        given = float((errors[0] * informative).sum())
        if n < CONVENTION_MIN_SAMPLES or given <= 0.0:
            out[name] = (None, n)
        else:
            out[name] = (float((errors[row] * informative).sum()) / given, n)
    return out


def _bilinear(image: torch.Tensor, h: int, w: int, xs: torch.Tensor, ys: torch.Tensor, exposure: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """A (C, H*W) linear image sampled at fractional pixel indices ``(xs, ys)`` (M,): the four taps are
    tonemapped (``to_network(tap, exposure)``), then interpolated bilinearly.

    Returns ``(values (C, M) network domain, inside (M,) bool)``; ``inside`` is False where the 2x2
    footprint leaves the frame (those values come from clamped taps and must be ignored)."""
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    x0f = torch.floor(xs).clamp_(0, w - 1)
    y0f = torch.floor(ys).clamp_(0, h - 1)
    fx = (xs - x0f).clamp_(0, 1)
    fy = (ys - y0f).clamp_(0, 1)
    x0, y0 = x0f.long(), y0f.long()
    x1, y1 = (x0 + 1).clamp_(max=w - 1), (y0 + 1).clamp_(max=h - 1)
    index = torch.cat([y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1])
    taps = to_network(image.index_select(1, index), exposure)
    t00, t01, t10, t11 = taps.chunk(4, dim=1)
    value = (t00 * (1 - fx) + t01 * fx) * (1 - fy) + (t10 * (1 - fx) + t11 * fx) * fy
    return value, inside


def _factor(ratio: float) -> str:
    """``1 / ratio`` for a message, e.g. ``"2.5x"`` (``">1000x"`` when the candidate error is ~0)."""
    return f"{1.0 / ratio:.1f}x" if ratio > 1e-3 else ">1000x"


def _masked_mean_abs(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float | None:
    """Mean |a - b| over pixels where mask is 1 (all channels), or None when no pixel is valid."""
    count = float(mask.sum())
    if count == 0.0:
        return None
    return float(((a - b).abs() * mask).sum()) / (count * a.shape[1])
