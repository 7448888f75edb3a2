"""Classic temporal anti-aliasing (TAA) in PyTorch: the baseline QW-Net replaces.

The same algorithm, operation for operation, is in ``shaders/common/taa_resolve.glsl`` (the GL pass
``engine_bridge.passes.TAAPass``); this module is what evaluation uses when no GL is present, and the test
suite checks that both agree. Per pixel, in the contract's top-down pixel space (pixel ``(row i, col j)``
has its centre at ``(j + 0.5, i + 0.5)``):

1. **Reprojection**: the pixel was at ``ss_prev = centre + motion_px`` in the previous frame (the input
   contract: previous = current + motion). If ``ss_prev`` lies outside ``[0, W] x [0, H]`` the history is
   invalid and the output is the current sample.
2. **History sampling**: Catmull-Rom (Keys, a = -0.5) over the full 4x4 texel footprint, clamp-to-edge
   texel fetches. Full 16 taps rather than the 5/9-tap bilinear-optimised form (Jimenez 2016, "Filmic
   SMAA") because the optimised form relies on hardware bilinear filtering, whose weights GPUs round to a
   few bits; point fetches make PyTorch and GLSL compute the same sums. Ringing is clamped at 0.
3. **Rectification**: 3x3 neighbourhood of the current frame in YCoCg (Karis 2014), mean ``mu`` and
   standard deviation ``sigma`` per channel; the history is clipped *towards the box centre* into the
   AABB ``mu +- gamma * sigma`` (variance clipping, Salvi 2016; clip-towards-centre, Playdead INSIDE
   ``clip_aabb``), not clamped per axis.
4. **Blend**: exponential moving average with feedback ``alpha`` for the current frame, luminance
   weighted (Karis 2014 / Lottes): ``w_cur = alpha / (1 + Y(cur))``, ``w_hist = (1 - alpha) / (1 + Y(hist))``,
   ``out = (w_cur cur + w_hist hist) / (w_cur + w_hist)``, with ``Y`` the YCoCg luma
   ``0.25 R + 0.5 G + 0.25 B``.
5. **Reset** (or first frame): output = the current sample. The output is the next frame's history.

Colour domain: **linear HDR** throughout (no tonemap); the luminance weights play the part of the
tonemap in the blend. Inputs are clamped at 0. Optional unjitter (``TAAConfig.unjitter``): the current
sample used in the blend is re-sampled bilinearly at ``centre - jitter_px`` (Playdead), estimating the value
at the pixel centre; off by default, so a static scene converges to the jittered (supersampled) average.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument, InvalidOperation

CLIP_EPS = 1e-6
"""Added to the AABB half-extent before dividing, so a flat neighbourhood (sigma = 0) clips the history
onto the mean instead of dividing by zero (Playdead uses FLT_EPS for the same purpose)."""


@dataclass(frozen=True)
class TAAConfig:
    """Parameters of the TAA baseline (shared by the PyTorch and GLSL implementations).

    Attributes:
        alpha: feedback weight of the current frame in the blend, in (0, 1]; Salvi 2016: "typically 10%".
        gamma: variance-clip box half-size in standard deviations (Salvi 2016), > 0.
        unjitter: re-sample the current frame at ``centre - jitter_px`` before blending.
    """

    alpha: float = 0.1
    gamma: float = 1.0
    unjitter: bool = False

    def __post_init__(self):
        if not (isinstance(self.alpha, (int, float)) and 0.0 < self.alpha <= 1.0):
            raise InvalidArgument("TAAConfig.alpha out of range", field="alpha", expected="0 < alpha <= 1",
                                  actual=repr(self.alpha))
        if not (isinstance(self.gamma, (int, float)) and math.isfinite(self.gamma) and self.gamma > 0.0):
            raise InvalidArgument("TAAConfig.gamma out of range", field="gamma", expected="finite gamma > 0",
                                  actual=repr(self.gamma))
        if not isinstance(self.unjitter, bool):
            raise InvalidArgument("TAAConfig.unjitter must be a bool", field="unjitter", expected="bool",
                                  actual=type(self.unjitter).__name__)

    def to_dict(self) -> dict:
        """Plain-dict form (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TAAConfig:
        """Build from :meth:`to_dict` output. Raises InvalidArgument on unknown keys or bad values."""
        unknown = set(data) - {"alpha", "gamma", "unjitter"}
        if unknown:
            raise InvalidArgument("unknown TAAConfig keys", field=", ".join(sorted(unknown)),
                                  expected="alpha, gamma, unjitter", actual=", ".join(sorted(unknown)))
        return cls(**data)


def rgb_to_ycocg(rgb: torch.Tensor) -> torch.Tensor:
    """RGB -> YCoCg (Malvar & Sullivan 2003), channel dim 1: (N,3,...) -> (N,3,...)."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return torch.stack((0.25 * r + 0.5 * g + 0.25 * b, 0.5 * r - 0.5 * b, -0.25 * r + 0.5 * g - 0.25 * b), 1)


def ycocg_to_rgb(ycocg: torch.Tensor) -> torch.Tensor:
    """YCoCg -> RGB, exact inverse of :func:`rgb_to_ycocg`: (N,3,...) -> (N,3,...)."""
    y, co, cg = ycocg[:, 0], ycocg[:, 1], ycocg[:, 2]
    return torch.stack((y + co - cg, y + cg, y - co - cg), 1)


def catmull_rom_weights(f: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Catmull-Rom (Keys 1981, a = -0.5) weights of the taps at offsets -1, 0, 1, 2; fraction f in [0, 1)."""
    w0 = f * (-0.5 + f * (1.0 - 0.5 * f))
    w1 = 1.0 + f * f * (-2.5 + 1.5 * f)
    w2 = f * (0.5 + f * (2.0 - 1.5 * f))
    w3 = f * f * (-0.5 + 0.5 * f)
    return w0, w1, w2, w3


def clip_towards_centre(q: torch.Tensor, centre: torch.Tensor, half_extent: torch.Tensor) -> torch.Tensor:
    """Clip ``q`` onto the AABB ``centre +- half_extent`` along the segment to the centre.

    Playdead INSIDE ``clip_aabb``.

    All (N,3,H,W) in the same space (YCoCg here). Points inside the box are returned unchanged.
    """
    v = q - centre
    ratio = (v / (half_extent + CLIP_EPS)).abs().amax(dim=1, keepdim=True)
    return torch.where(ratio > 1.0, centre + v / ratio.clamp_min(1.0), q)


class _TexelFetcher:
    """Clamp-to-edge texel fetches from an image (N,C,H,W) at integer positions, the way GLSL's ``texelFetch``
    on clamped coordinates reads. Works on a channels-last copy so each fetch gathers C contiguous floats
    (~15% faster on CPU than ``torch.gather`` over channel planes, bit-identical results)."""

    def __init__(self, image: torch.Tensor):
        n, c, h, w = image.shape
        self.shape = (n, c, h, w)
        self.flat = image.permute(0, 2, 3, 1).reshape(n * h * w, c)
        self.batch_offset = (torch.arange(n, device=image.device) * (h * w)).view(n, 1, 1)

    def columns(self, ix: torch.Tensor) -> torch.Tensor:
        """Clamped column indices for integer x positions (N,H,W)."""
        return ix.clamp(0, self.shape[3] - 1)

    def rows(self, iy: torch.Tensor) -> torch.Tensor:
        """Flat offsets of the clamped rows for integer y positions (N,H,W)."""
        return self.batch_offset + iy.clamp(0, self.shape[2] - 1) * self.shape[3]

    def fetch(self, row: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
        """Texels at (row offset, column), as (N,H,W,C) channels-last."""
        return self.flat[row + column]


def sample_catmull_rom(image: torch.Tensor, ss_pos: torch.Tensor) -> torch.Tensor:
    """16-tap Catmull-Rom sample of image (N,C,H,W) at top-down pixel positions ss_pos (N,2,H,W).

    Clamp-to-edge addressing; returns (N,C,H,W)."""
    t = ss_pos - 0.5
    base = torch.floor(t)
    frac = (t - base).permute(0, 2, 3, 1).unsqueeze(-1)  # (N,H,W,2,1)
    ix, iy = base[:, 0].long(), base[:, 1].long()
    texels = _TexelFetcher(image)
    wx = catmull_rom_weights(frac[..., 0, :])
    wy = catmull_rom_weights(frac[..., 1, :])
    columns = [texels.columns(ix + (dx - 1)) for dx in range(4)]
    total = None
    for dy in range(4):
        row_offset = texels.rows(iy + (dy - 1))
        row = wx[0] * texels.fetch(row_offset, columns[0])
        for dx in range(1, 4):
            row = row + wx[dx] * texels.fetch(row_offset, columns[dx])
        total = wy[dy] * row if total is None else total + wy[dy] * row
    return total.permute(0, 3, 1, 2)


def sample_bilinear(image: torch.Tensor, ss_pos: torch.Tensor) -> torch.Tensor:
    """4-tap bilinear sample of image (N,C,H,W) at top-down pixel positions ss_pos (N,2,H,W).

    Clamp-to-edge addressing; returns (N,C,H,W)."""
    t = ss_pos - 0.5
    base = torch.floor(t)
    frac = (t - base).permute(0, 2, 3, 1).unsqueeze(-1)
    fx, fy = frac[..., 0, :], frac[..., 1, :]
    ix, iy = base[:, 0].long(), base[:, 1].long()
    texels = _TexelFetcher(image)
    x0, x1 = texels.columns(ix), texels.columns(ix + 1)
    y0, y1 = texels.rows(iy), texels.rows(iy + 1)
    top = (1.0 - fx) * texels.fetch(y0, x0) + fx * texels.fetch(y0, x1)
    bottom = (1.0 - fx) * texels.fetch(y1, x0) + fx * texels.fetch(y1, x1)
    return ((1.0 - fy) * top + fy * bottom).permute(0, 3, 1, 2)


def neighbourhood_moments(ycocg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over the clamp-to-edge 3x3 neighbourhood: (N,3,H,W) -> two (N,3,H,W).

    The moments are accumulated relative to the centre pixel (the shifted-data variance algorithm): a flat
    neighbourhood then has exactly zero variance, and ``E[s^2] - E[s]^2`` does not cancel catastrophically on
    bright pixels (which otherwise gives sigma ~ sqrt(ulp) noise that differs between GLSL and PyTorch).
    """
    padded = F.pad(ycocg, (1, 1, 1, 1), mode="replicate")
    h, w = ycocg.shape[-2:]
    m1 = torch.zeros_like(ycocg)
    m2 = torch.zeros_like(ycocg)
    for dy in range(3):
        for dx in range(3):
            s = padded[:, :, dy:dy + h, dx:dx + w] - ycocg
            m1 = m1 + s
            m2 = m2 + s * s
    mean_offset = m1 / 9.0
    sigma = torch.sqrt(torch.clamp_min(m2 / 9.0 - mean_offset * mean_offset, 0.0))
    return ycocg + mean_offset, sigma


def pixel_centres(n: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """Top-down pixel-centre positions (N,2,H,W): channel 0 = x + 0.5, channel 1 = y + 0.5."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32) + 0.5,
                            torch.arange(w, device=device, dtype=torch.float32) + 0.5, indexing="ij")
    return torch.stack((xs, ys)).unsqueeze(0).expand(n, 2, h, w)


def taa_resolve(color: torch.Tensor, motion_px: torch.Tensor, history: torch.Tensor | None,
                config: TAAConfig = TAAConfig(), jitter_px: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """One TAA frame, functional form: no input checks (callers validate, as :class:`TemporalAA` and
    ``qwplugin.runtime.Context`` do).

    Args:
        color: (N,3,H,W) float32 linear HDR, this frame's jittered render.
        motion_px: (N,2,H,W) float32, contract motion vectors (previous = current + motion, render px).
        history: (N,3,H,W) float32 previous output, or None for reset.
        config: the TAA parameters.
        jitter_px: this frame's jitter (x, y) in render pixels (used only if ``config.unjitter``).

    Returns:
        (N,3,H,W) float32 linear HDR output (also the next frame's history).
    """
    color = color.clamp_min(0.0)
    n, _, h, w = color.shape
    centres = pixel_centres(n, h, w, color.device)
    current = color
    if config.unjitter:
        jitter = torch.tensor(jitter_px, dtype=torch.float32, device=color.device).view(1, 2, 1, 1)
        current = sample_bilinear(color, centres - jitter)
    if history is None:
        return current.clone()
    ss_prev = centres + motion_px
    valid = ((ss_prev[:, 0:1] >= 0.0) & (ss_prev[:, 0:1] <= w)
             & (ss_prev[:, 1:2] >= 0.0) & (ss_prev[:, 1:2] <= h))
    hist = sample_catmull_rom(history, ss_prev).clamp_min(0.0)
    mean, sigma = neighbourhood_moments(rgb_to_ycocg(color))
    hist = ycocg_to_rgb(clip_towards_centre(rgb_to_ycocg(hist), mean, config.gamma * sigma))
    w_cur = config.alpha / (1.0 + rgb_to_ycocg(current)[:, 0:1])
    w_hist = (1.0 - config.alpha) / (1.0 + rgb_to_ycocg(hist)[:, 0:1])
    blended = ((w_cur * current + w_hist * hist) / (w_cur + w_hist)).clamp_min(0.0)
    return torch.where(valid, blended, current)


class TemporalAA:
    """Stateful TAA: owns the history and runs :func:`taa_resolve` once per frame.

    A change of batch size or resolution between frames resets the history (as a resize does).

    Examples:
        >>> taa = TemporalAA()
        >>> color = torch.rand(1, 3, 8, 8)
        >>> out = taa.step(color, torch.zeros(1, 2, 8, 8), reset=True)
        >>> bool(torch.equal(out, color))
        True
    """

    def __init__(self, config: TAAConfig = TAAConfig()):
        if not isinstance(config, TAAConfig):
            raise InvalidArgument("config must be a TAAConfig", field="config", expected="TAAConfig",
                                  actual=type(config).__name__)
        self.config = config
        self._history: torch.Tensor | None = None
        self._closed = False

    @property
    def history(self) -> torch.Tensor | None:
        """The stored history (N,3,H,W) float32 (a copy), or None after a reset."""
        return None if self._history is None else self._history.clone()

    def reset(self) -> None:
        """Drop the history; the next step outputs its current frame."""
        self._history = None

    def close(self) -> None:
        """Release the history; later calls to :meth:`step` raise InvalidOperation."""
        self._history = None
        self._closed = True

    def step(self, color_linear: torch.Tensor, motion_px: torch.Tensor, reset: bool = False,
             jitter_px: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
        """Resolve one frame.

        Args:
            color_linear: (N,3,H,W) floating linear HDR colour, jittered.
            motion_px: (N,2,H,W) floating motion in render pixels (previous = current + motion, +y down).
            reset: drop the history first (first frame, camera cut).
            jitter_px: (x, y) jitter of this frame in render pixels, each in [-0.5, 0.5].

        Returns:
            (N,3,H,W) float32 linear HDR output, a tensor the caller may modify.

        Raises:
            InvalidArgument: wrong shape, dtype, device or jitter range (history untouched).
            InvalidOperation: called after :meth:`close`.
        """
        if self._closed:
            raise InvalidOperation("TemporalAA.step called after close()")
        _check_inputs(color_linear, motion_px, reset, jitter_px)
        color = color_linear.float()
        motion = motion_px.float()
        if self._history is not None and self._history.shape != color.shape:
            self._history = None
        if self._history is not None and self._history.device != color.device:
            self._history = self._history.to(color.device)
        jitter = (float(jitter_px[0]), float(jitter_px[1]))
        out = taa_resolve(color, motion, None if reset else self._history, self.config, jitter)
        self._history = out
        return out.clone()


def _check_inputs(color, motion, reset, jitter_px) -> None:
    if not isinstance(color, torch.Tensor) or color.ndim != 4 or color.shape[1] != 3:
        raise InvalidArgument("color_linear must be a (N,3,H,W) tensor", field="color_linear",
                              expected="(N,3,H,W)", actual=_describe(color))
    if not color.is_floating_point():
        raise InvalidArgument("color_linear must be floating point", field="color_linear",
                              expected="float tensor", actual=str(color.dtype))
    n, _, h, w = color.shape
    if not isinstance(motion, torch.Tensor) or tuple(motion.shape) != (n, 2, h, w):
        raise InvalidArgument("motion_px must match color_linear", field="motion_px",
                              expected=f"({n},2,{h},{w})", actual=_describe(motion))
    if not motion.is_floating_point() or motion.device != color.device:
        raise InvalidArgument("motion_px must be floating point on color's device", field="motion_px",
                              expected=f"float on {color.device}",
                              actual=f"{motion.dtype} on {motion.device}")
    if not isinstance(reset, (bool, np.bool_)):
        raise InvalidArgument("reset must be a bool", field="reset", expected="bool",
                              actual=type(reset).__name__)
    try:
        jx, jy = (float(v) for v in jitter_px)
        if isinstance(jitter_px, str):
            raise TypeError
    except (TypeError, ValueError):
        raise InvalidArgument("jitter_px must be two numbers", field="jitter_px", expected="(x, y)",
                              actual=repr(jitter_px)) from None
    if not (-0.5 <= jx <= 0.5 and -0.5 <= jy <= 0.5):
        raise InvalidArgument("jitter_px out of range", field="jitter_px", expected="each in [-0.5, 0.5]",
                              actual=repr(jitter_px))


def _describe(x) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
