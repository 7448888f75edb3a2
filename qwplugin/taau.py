"""Temporal anti-aliasing upscaling (TAAU) in PyTorch: the strong TAA of :mod:`qwplugin.taa` in its upscaling
form (FSR 2 / UE4 Gen-4 TAAU style): render at a lower resolution, keep the history at display resolution.

The same algorithm, operation for operation, is in ``shaders/common/taau_resolve.glsl`` (the GL pass
``engine_bridge.passes.taau_pass.TAAUPass``); tests check that both agree. Spaces: render pixels (``rs_``,
the input contract: colour, depth and motion at the render size ``(w, h)``, motion and jitter in render
pixels) and display pixels (``ds_``, the output and history, size ``(W, H)``); the per-axis scale is
``s = (W / w, H / h)``. Render pixel ``(i, j)`` rendered with jitter ``(jx, jy)`` saw the scene at render
position ``(j + 0.5 + jx, i + 0.5 + jy)``, i.e. at display position
``((j + 0.5 + jx) sx, (i + 0.5 + jy) sy)``.

Per display pixel ``(Y, X)``, centre ``c = (X + 0.5, Y + 0.5)``:

1. **Render texel**: ``r = floor(c / s)``, the render pixel the display centre lies in, computed exactly in
   integers: ``r_x = ((2X + 1) w) div (2W)``. Its fractional position inside that texel is
   ``f = ((2X + 1) w - 2W r_x) / (2W)`` (integer numerator, times the float32 ``1 / (2W)``).
2. **Motion dilation** (``dilate_motion``), **depth disocclusion** (``depth_rejection``): exactly the TAA's,
   at render resolution for texel ``r`` (closest-depth 3x3 motion; the farthest previous depth of the 2x2
   footprint of ``r + 0.5 + motion`` nearer than ``(1 - depth_tolerance)`` x the current depth rejects).
3. **Reprojection** at display resolution: ``ds_prev = c + motion * s``; outside ``[0, W] x [0, H]`` the
   history is invalid.
4. **Current estimate: a reconstruction kernel that knows the sample positions.** The 3x3 render samples
   around ``r`` (clamp-to-edge texels ``k``, each at its own true position) have display-pixel offsets
   ``d_k = ((k - r) + 0.5 + jitter - f) * s`` from ``c``; weights
   ``w_k = exp(-(|d_k|^2 - min_k |d_k|^2) / (2 sigma^2))`` (``sigma = filter_sigma_px`` in display pixels;
   relative to the closest sample, so the largest weight is 1 and nothing underflows), estimate
   ``sum w_k c_k / sum w_k`` (Karis 2014's jitter-aware Gaussian, UE4 TAAU, Unity HDRP TAAU).
5. **Confidence**: ``conf = exp(-min_k |d_k|^2 / (2 sigma^2))``, 1 when a sample landed on the display centre
   this frame, near 0 when none came close.
6. **History**: 16-tap Catmull-Rom at ``ds_prev`` in the display-resolution history (:func:`qwplugin.taa.
   sample_catmull_rom`), clamped at 0.
7. **Rectification** from the **render-resolution** neighbourhood: the TAA's 3x3 YCoCg (or perceptual)
   mean and standard deviation of texel ``r`` (:func:`qwplugin.taa.neighbourhood_moments`), variance clip
   towards the centre onto ``mu +- gamma sigma``.
8. **Adaptive feedback**: ``a = min(alpha * conf + motion_feedback * |motion * s| + clip_feedback *
   clip_fraction, feedback_max)``: a display pixel no sample hit closely this frame leans on its history;
   motion (in display pixels) and stale history raise the current weight as in the TAA.
9. **Blend**, luminance weighted (Karis 2014): as the TAA; the result is the next history. **Sharpening**
   (``sharpen``) on the displayed output only (:func:`qwplugin.taa.taa_sharpen` at display resolution).
10. **Reset**: the output is the current estimate (step 4).

At scale 1 (display = render) this is not bit-identical to :class:`qwplugin.taa.TemporalAA`: the kernel is
normalised per pixel (the TAA's weights are shared) and the current weight is scaled by the confidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.taa import (_clip_by_ratio, check_resolve_fields, clip_ratio, dilate_motion, history_depth_far, neighbourhood_moments,
                          pixel_centres, rgb_to_ycocg, sample_catmull_rom, taa_sharpen, tonemap_ycocg,
                          untonemap_ycocg, ycocg_to_rgb)
from qwplugin.upscale import scale_of


@dataclass(frozen=True)
class TAAUConfig:
    """Parameters of the TAAU (shared by the PyTorch and GLSL implementations). The defaults are the
    configuration tuned at 2x on the training scenes (``python -m engine_bridge.tune_taa --mode taau``,
    ``docs/upscaling.md``, recorded in ``configs/taau_tuned.json``; a test keeps them equal).

    Attributes:
        alpha: current-frame weight of a display pixel a sample landed on exactly, in (0, 1].
        gamma: variance-clip box half-size in standard deviations, > 0.
        filter_sigma_px: standard deviation of the reconstruction kernel and the confidence, in display
            pixels, > 0.
        dilate_motion: take the motion of the closest-depth render pixel of the 3x3 (needs depth).
        depth_rejection: reject the history on depth disocclusion (needs depth).
        depth_tolerance: relative depth difference that counts as a disocclusion, > 0.
        perceptual_clip: neighbourhood statistics and clipping in the luma-tonemapped YCoCg.
        motion_feedback: current-weight increase per display pixel of motion length, >= 0.
        clip_feedback: current-weight increase per unit of clip fraction, >= 0.
        feedback_max: cap of the adaptive current-frame weight, in [alpha, 1].
        sharpen: output-only sharpening strength, >= 0 (0 = off).
    """

    # Tuned defaults: the winner of the 2x sweep on the training scenes (docs/upscaling.md, docs/taau_tuning/),
    # recorded in configs/taau_tuned.json; a test keeps the two equal.
    alpha: float = 0.7
    gamma: float = 4.0
    filter_sigma_px: float = 0.5
    dilate_motion: bool = True
    depth_rejection: bool = True
    depth_tolerance: float = 0.1
    perceptual_clip: bool = False
    motion_feedback: float = 0.1
    clip_feedback: float = 0.0
    feedback_max: float = 1.0
    sharpen: float = 0.35

    def __post_init__(self):
        check_resolve_fields(self, ("dilate_motion", "depth_rejection", "perceptual_clip"))

    @property
    def uses_depth(self) -> bool:
        """Whether this configuration needs a depth input (motion dilation or depth rejection)."""
        return self.dilate_motion or self.depth_rejection

    def without_depth(self) -> TAAUConfig:
        """The same configuration with the depth-based options switched off."""
        return replace(self, dilate_motion=False, depth_rejection=False)

    def inv_two_sigma_sq(self) -> float:
        """``1 / (2 sigma^2)`` rounded to float32 once, on the host (GLSL gets the same number)."""
        return float(np.float32(1.0) / (np.float32(2.0) * np.float32(self.filter_sigma_px) ** 2))

    def to_dict(self) -> dict:
        """Plain-dict form (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TAAUConfig:
        """Build from :meth:`to_dict` output (missing keys take the class defaults).

        Raises:
            InvalidArgument: unknown keys or bad values.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidArgument("unknown TAAUConfig keys", field=", ".join(sorted(unknown)),
                                  expected=", ".join(sorted(names)), actual=", ".join(sorted(unknown)))
        return cls(**data)


def render_texel_map(render_len: int, display_len: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per display index along one axis: the render texel its centre lies in, and the centre's fraction
    inside that texel.

    ``r = ((2X + 1) w) // (2W)`` exactly (integers); ``f = ((2X + 1) w - 2W r) * float32(1 / (2W))``.

    Args:
        render_len: ``w`` (render pixels along the axis), >= 1.
        display_len: ``W`` (display pixels along the axis), >= ``w``.

    Returns:
        ``(r, f)``: (W,) int64 render texel indices and (W,) float32 fractions in [0, 1).

    Examples:
        >>> r, f = render_texel_map(2, 4)
        >>> r.tolist(), f.tolist()
        ([0, 0, 1, 1], [0.25, 0.75, 0.25, 0.75])
    """
    x = torch.arange(display_len, device=device, dtype=torch.int64)
    num = (2 * x + 1) * render_len
    r = num // (2 * display_len)
    inv = torch.tensor(np.float32(1.0) / np.float32(2 * display_len), dtype=torch.float32, device=device)
    f = (num - 2 * display_len * r).to(torch.float32) * inv
    return r, f


def _gather(image: torch.Tensor, ry: torch.Tensor, rx: torch.Tensor) -> torch.Tensor:
    """``image[:, :, ry[Y], rx[X]]`` for every display pixel: (N,C,h,w) -> (N,C,H,W)."""
    return image.index_select(2, ry).index_select(3, rx)


def _kernel_terms(color: torch.Tensor, jitter_px: tuple[float, float], scale: tuple[float, float],
                  ry: torch.Tensor, rx: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor):
    """The 3x3 samples around each display pixel's render texel and their squared display-pixel distances.

    Returns:
        list of 9 ``(d2 (1,1,H,W), colour (N,3,H,W))`` in the order dy = -1..1 (outer), dx = -1..1 (inner).
    """
    h, w = color.shape[-2:]
    sx, sy = (torch.tensor(np.float32(v), device=color.device) for v in scale)
    jx, jy = (torch.tensor(np.float32(v), device=color.device) for v in jitter_px)
    terms = []
    for oy in (-1, 0, 1):
        ky = (ry + oy).clamp(0, h - 1)
        dy = ((((ky - ry).to(torch.float32) + 0.5) + jy) - fy) * sy  # (H,)
        for ox in (-1, 0, 1):
            kx = (rx + ox).clamp(0, w - 1)
            dx = ((((kx - rx).to(torch.float32) + 0.5) + jx) - fx) * sx  # (W,)
            d2 = dx.view(1, -1) * dx.view(1, -1) + dy.view(-1, 1) * dy.view(-1, 1)
            terms.append((d2.view(1, 1, *d2.shape), _gather(color, ky, kx)))
    return terms


def reconstruct_display(color: torch.Tensor, jitter_px: tuple[float, float], display_size: tuple[int, int],
                        config: TAAUConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The jitter-aware current estimate at display resolution and its confidence (steps 4 and 5).

    Args:
        color: (N,3,h,w) float32 jittered render, >= 0.
        jitter_px: (x, y) this frame's jitter in render pixels.
        display_size: ``(W, H)``.
        config: supplies ``filter_sigma_px``.

    Returns:
        ``(current (N,3,H,W), confidence (1,1,H,W))``, both float32.
    """
    h, w = color.shape[-2:]
    big_w, big_h = display_size
    scale = (np.float32(big_w) / np.float32(w), np.float32(big_h) / np.float32(h))
    rx, fx = render_texel_map(w, big_w, color.device)
    ry, fy = render_texel_map(h, big_h, color.device)
    terms = _kernel_terms(color, jitter_px, scale, ry, rx, fy, fx)
    d2_min = terms[0][0]
    for d2, _ in terms[1:]:
        d2_min = torch.minimum(d2_min, d2)
    inv = torch.tensor(config.inv_two_sigma_sq(), dtype=torch.float32, device=color.device)
    total = weight_sum = None
    for d2, c in terms:
        wgt = torch.exp(-((d2 - d2_min) * inv))
        total = wgt * c if total is None else total + wgt * c
        weight_sum = wgt if weight_sum is None else weight_sum + wgt
    return total / weight_sum, torch.exp(-(d2_min * inv))


def taau_resolve(color: torch.Tensor, motion_px: torch.Tensor, history: torch.Tensor | None,
                 display_size: tuple[int, int], config: TAAUConfig = TAAUConfig(),
                 jitter_px: tuple[float, float] = (0.0, 0.0), depth: torch.Tensor | None = None,
                 history_depth: torch.Tensor | None = None) -> torch.Tensor:
    """One TAAU frame, functional form: no shape checks (callers validate, as :class:`TemporalUpscaler`
    does). Sharpening is not applied here (see :func:`qwplugin.taa.taa_sharpen`).

    Args:
        color: (N,3,h,w) float32 linear HDR, this frame's jittered render.
        motion_px: (N,2,h,w) float32 contract motion (previous = current + motion, render pixels).
        history: (N,3,H,W) float32 previous output at display resolution, or None for reset.
        display_size: ``(W, H)``, 1x to 3x the render size per axis.
        config: the TAAU parameters.
        jitter_px: this frame's jitter (x, y) in render pixels.
        depth: (N,1,h,w) float32 positive linear view depth; required when ``config.uses_depth``.
        history_depth: (N,1,h,w) the previous frame's depth, for ``depth_rejection`` (None: no test).

    Returns:
        (N,3,H,W) float32 linear HDR resolved colour: the next frame's history.

    Raises:
        InvalidArgument: ``config.uses_depth`` and no depth.
    """
    if config.uses_depth and depth is None:
        raise InvalidArgument("this TAAU configuration needs depth (dilate_motion / depth_rejection)",
                              field="depth", expected="(N,1,h,w) linear view depth, or "
                              "TAAUConfig.without_depth()", actual="None")
    color = color.clamp_min(0.0)
    n, _, h, w = color.shape
    big_w, big_h = display_size
    current, confidence = reconstruct_display(color, jitter_px, display_size, config)
    if history is None:
        return current
    rx, _ = render_texel_map(w, big_w, color.device)
    ry, _ = render_texel_map(h, big_h, color.device)
    # Steps 2 and 7 at render resolution, then read per display pixel at its render texel r.
    motion, depth_cur = (dilate_motion(motion_px, depth) if config.dilate_motion else (motion_px, depth))
    rs_valid = torch.ones((n, 1, h, w), dtype=torch.bool, device=color.device)
    if config.depth_rejection and history_depth is not None:
        far = history_depth_far(history_depth, pixel_centres(n, h, w, color.device) + motion)
        keep = torch.tensor(np.float32(1.0) - np.float32(config.depth_tolerance), device=color.device)
        rs_valid = ~(far < depth_cur * keep)
    to_box = tonemap_ycocg if config.perceptual_clip else (lambda x: x)
    from_box = untonemap_ycocg if config.perceptual_clip else (lambda x: x)
    rs_mean, rs_sigma = neighbourhood_moments(to_box(rgb_to_ycocg(color)))
    mean, sigma = _gather(rs_mean, ry, rx), _gather(rs_sigma, ry, rx)
    motion_ds = _gather(motion, ry, rx)
    scale = torch.tensor([np.float32(big_w) / np.float32(w), np.float32(big_h) / np.float32(h)],
                         dtype=torch.float32, device=color.device).view(1, 2, 1, 1)
    motion_ds = motion_ds * scale  # display pixels
    ds_prev = pixel_centres(n, big_h, big_w, color.device) + motion_ds
    valid = ((ds_prev[:, 0:1] >= 0.0) & (ds_prev[:, 0:1] <= big_w)
             & (ds_prev[:, 1:2] >= 0.0) & (ds_prev[:, 1:2] <= big_h)) & _gather(rs_valid, ry, rx)
    hist = sample_catmull_rom(history, ds_prev).clamp_min(0.0)
    hist_box = to_box(rgb_to_ycocg(hist))
    ratio = clip_ratio(hist_box, mean, config.gamma * sigma)
    hist = ycocg_to_rgb(from_box(_clip_by_ratio(hist_box, mean, ratio)))
    alpha = config.alpha * confidence
    if config.motion_feedback > 0.0:
        alpha = alpha + config.motion_feedback * torch.sqrt(motion_ds[:, 0:1] * motion_ds[:, 0:1]
                                                            + motion_ds[:, 1:2] * motion_ds[:, 1:2])
    if config.clip_feedback > 0.0:
        alpha = alpha + config.clip_feedback * (1.0 - 1.0 / ratio.clamp_min(1.0))
    alpha = alpha.clamp_max(config.feedback_max)
    w_cur = alpha / (1.0 + rgb_to_ycocg(current)[:, 0:1])
    w_hist = (1.0 - alpha) / (1.0 + rgb_to_ycocg(hist)[:, 0:1])
    blended = ((w_cur * current + w_hist * hist) / (w_cur + w_hist)).clamp_min(0.0)
    return torch.where(valid, blended, current)


class TemporalUpscaler:
    """Stateful TAAU: owns the display-resolution history (and the render-resolution history depth when the
    configuration uses it) and runs :func:`taau_resolve` and the output sharpening once per frame.

    Args:
        display_size: ``(W, H)`` of the output in pixels.
        config: the TAAU parameters.

    A change of batch size or render size between frames resets the history (as a resize does).

    Raises:
        InvalidArgument: a bad display size or config.

    Examples:
        >>> up = TemporalUpscaler((16, 12), TAAUConfig(sharpen=0.0).without_depth())
        >>> out = up.step(torch.ones(1, 3, 6, 8), torch.zeros(1, 2, 6, 8), reset=True)
        >>> tuple(out.shape), bool(torch.allclose(out, torch.ones(1, 3, 12, 16)))
        ((1, 3, 12, 16), True)
    """

    def __init__(self, display_size: tuple[int, int], config: TAAUConfig = TAAUConfig()):
        from qwplugin.upscale import check_size

        if not isinstance(config, TAAUConfig):
            raise InvalidArgument("config must be a TAAUConfig", field="config", expected="TAAUConfig",
                                  actual=type(config).__name__)
        self.display_size = check_size(display_size, "display_size")
        self.config = config
        self._history: torch.Tensor | None = None
        self._history_depth: torch.Tensor | None = None
        self._closed = False

    @property
    def history(self) -> torch.Tensor | None:
        """The stored display-resolution history (N,3,H,W) float32 (a copy, unsharpened), or None."""
        return None if self._history is None else self._history.clone()

    def reset(self) -> None:
        """Drop the history; the next step outputs its current estimate."""
        self._history = None
        self._history_depth = None

    def close(self) -> None:
        """Release the history; later calls to :meth:`step` raise InvalidOperation."""
        self.reset()
        self._closed = True

    def step(self, color_linear: torch.Tensor, motion_px: torch.Tensor, reset: bool = False,
             jitter_px: tuple[float, float] = (0.0, 0.0), depth: torch.Tensor | None = None) -> torch.Tensor:
        """Upscale one frame.

        Args:
            color_linear: (N,3,h,w) floating linear HDR colour at the render size, jittered; the display
                size must be 1x to 3x ``(w, h)`` per axis.
            motion_px: (N,2,h,w) floating motion in render pixels (previous = current + motion, +y down).
            reset: drop the history first (first frame, camera cut).
            jitter_px: (x, y) jitter of this frame in render pixels, each in [-0.5, 0.5].
            depth: (N,1,h,w) floating positive linear view depth; required when ``config.uses_depth``.

        Returns:
            (N,3,H,W) float32 linear HDR output at the display size (sharpened if ``config.sharpen``).

        Raises:
            InvalidArgument: wrong shape (naming the field: ``color_linear``, ``motion_px``, ``depth``),
                dtype, device, jitter range, a render size the display size is not 1x..3x of, or missing
                depth; the history is untouched.
            InvalidOperation: called after :meth:`close`.
        """
        from qwplugin.taa import _check_depth, _check_inputs

        if self._closed:
            raise InvalidOperation("TemporalUpscaler.step called after close()")
        _check_inputs(color_linear, motion_px, reset, jitter_px)
        h, w = color_linear.shape[-2:]
        try:
            scale_of((w, h), self.display_size)
        except InvalidArgument as exc:
            raise InvalidArgument("color_linear's render size does not fit the display size",
                                  field="color_linear",
                                  expected=f"(N,3,h,w) with display {self.display_size} 1x to 3x (w, h) per axis",
                                  actual=f"shape {tuple(color_linear.shape)}") from exc
        if self.config.uses_depth:
            _check_depth(depth, color_linear)
        color = color_linear.float()
        depth_f = depth.float() if self.config.uses_depth else None
        n = color.shape[0]
        expected = (n, 3, self.display_size[1], self.display_size[0])
        depth_moved = self._history_depth is not None and self._history_depth.shape[-2:] != color.shape[-2:]
        if self._history is not None and (tuple(self._history.shape) != expected or depth_moved):
            self.reset()
        if self._history is not None and self._history.device != color.device:
            self._history = self._history.to(color.device)
            if self._history_depth is not None:
                self._history_depth = self._history_depth.to(color.device)
        jitter = (float(jitter_px[0]), float(jitter_px[1]))
        out = taau_resolve(color, motion_px.float(), None if reset else self._history, self.display_size,
                           self.config, jitter, depth=depth_f, history_depth=self._history_depth)
        self._history = out
        self._history_depth = depth_f.clone() if depth_f is not None else None
        return taa_sharpen(out, self.config.sharpen)
