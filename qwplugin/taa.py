"""Temporal anti-aliasing (TAA) in PyTorch: the strong, tuned baseline QW-Net has to beat.

The same algorithm, operation for operation, is in ``shaders/common/taa_resolve.glsl`` (the GL pass
``engine_bridge.passes.TAAPass``); this module is what evaluation uses when no GL is present, and the test
suite checks that both agree with every option on. Per pixel, in the contract's top-down pixel space (pixel
``(row i, col j)`` has its centre at ``(j + 0.5, i + 0.5)``); every step can be switched off in
:class:`TAAConfig` for ablation (``TAAConfig.classic()`` switches all of the new ones off):

1. **Motion dilation** (``dilate_motion``, needs depth): the motion vector is taken from the pixel of the
   3x3 neighbourhood with the closest depth (FSR 2, GDK sample), so foreground edges carry their own motion.
2. **Reprojection**: the pixel was at ``ss_prev = centre + motion_px`` in the previous frame (the input
   contract). Outside ``[0, W] x [0, H]`` the history is invalid and the output is the current estimate.
3. **Depth disocclusion** (``depth_rejection``, needs depth): the previous frame's linear depth in the
   2x2 bilinear footprint of ``ss_prev``; if even its farthest texel is nearer than the current (dilated)
   depth by more than ``depth_tolerance`` (relative), something covered this surface a frame ago: the
   history is rejected and the output is the current estimate.
4. **Current estimate**: the jittered sample itself (``filter="none"``), a bilinear re-sample at the pixel
   centre (``unjitter``), or a **jitter-aware reconstruction filter** (``filter="gaussian"``, Karis 2014):
   the 3x3 samples, each taken at its pixel centre + jitter, weighted by ``exp(-d^2 / (2 sigma^2))`` of
   their distance ``d`` to this pixel's centre (sigma 0.47 px is Karis's Gaussian fit of Blackman-Harris).
5. **History sample**: Catmull-Rom (Keys, a = -0.5) over the full 4x4 texel footprint, clamp-to-edge
   point fetches (16 taps rather than the 5/9-tap bilinear-optimised form, whose hardware weights GPUs
   round to a few bits; point fetches make PyTorch and GLSL compute the same sums). Ringing is clamped at 0.
6. **Rectification**: mean ``mu`` and standard deviation ``sigma`` of the 3x3 current samples in YCoCg, or
   with ``perceptual_clip`` in the YCoCg of the luma tonemap ``c / (1 + Y(c))`` (Karis 2014); the history
   is clipped towards the box centre onto ``mu +- gamma * sigma`` (variance clipping, Salvi 2016;
   clip-towards-centre, Playdead ``clip_aabb``).
7. **Adaptive feedback**: the current-frame weight ``a = min(alpha + motion_feedback * |motion_px| +
   clip_feedback * clip_fraction, feedback_max)`` where ``clip_fraction = 1 - 1/ratio`` is how far the
   clip moved the history towards the box (0 when inside); ``alpha`` is the floor (UE4: 0.04). A static
   pixel accumulates with ``alpha``; motion (re-sampling blur) and stale history raise the weight.
8. **Blend**: luminance weighted (Karis 2014 / Lottes): ``w_cur = a / (1 + Y(cur))``,
   ``w_hist = (1 - a) / (1 + Y(hist))``, ``out = (w_cur cur + w_hist hist) / (w_cur + w_hist)``, ``Y`` the
   YCoCg luma ``0.25 R + 0.5 G + 0.25 B``. The result is the next frame's **history**.
9. **Sharpening** (``sharpen`` > 0), on the displayed output only, never on the history: unsharp mask with
   the 4-neighbour cross in the luma-tonemapped domain, clamped to the cross's min and max (no ringing).
10. **Reset** (or first frame): the output is the current estimate.

Colour domain: **linear HDR** in and out. Inputs are clamped at 0. Depth is positive linear view depth
(``qwplugin.runtime.depth`` converts the other conventions).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.runtime.validate import check_jitter

CLIP_EPS = 1e-6
"""Added to the AABB half-extent before dividing, so a flat neighbourhood (sigma = 0) clips the history
onto the mean instead of dividing by zero (Playdead uses FLT_EPS for the same purpose)."""

TONEMAP_EPS = 1e-3
"""Floor of ``1 - Y`` when inverting the luma tonemap ``q = p / (1 + Y(p))`` (``p = q / (1 - Y(q))``): a
clipped or sharpened value can land at ``Y(q) >= 1``, which has no preimage; it maps to at most 1000x."""

FILTERS = ("none", "gaussian")
"""Current-frame estimates: the jittered sample itself, or the jitter-aware Gaussian over the 3x3."""


def check_resolve_fields(config, bools: tuple[str, ...]) -> None:
    """The range checks shared by :class:`TAAConfig` and the TAAU's config: the numeric resolve fields
    (``alpha``, ``gamma``, ``filter_sigma_px``, ``depth_tolerance``, the feedback terms, ``sharpen``) and the
    named bool fields.

    Raises:
        InvalidArgument: naming the first bad field (``<ClassName>.<field>`` in the message).
    """
    cls = type(config).__name__

    def number(name, ok, expected):
        v = getattr(config, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
            raise InvalidArgument(f"{cls}.{name} out of range", field=name, expected=expected, actual=repr(v))

    number("alpha", lambda v: 0.0 < v <= 1.0, "0 < alpha <= 1")
    number("gamma", lambda v: v > 0.0, "finite gamma > 0")
    number("filter_sigma_px", lambda v: v > 0.0, "> 0")
    number("depth_tolerance", lambda v: v > 0.0, "> 0")
    number("motion_feedback", lambda v: v >= 0.0, ">= 0")
    number("clip_feedback", lambda v: v >= 0.0, ">= 0")
    number("feedback_max", lambda v: config.alpha <= v <= 1.0, f"alpha ({config.alpha}) <= feedback_max <= 1")
    number("sharpen", lambda v: v >= 0.0, ">= 0")
    for name in bools:
        if not isinstance(getattr(config, name), bool):
            raise InvalidArgument(f"{cls}.{name} must be a bool", field=name, expected="bool",
                                  actual=type(getattr(config, name)).__name__)


@dataclass(frozen=True)
class TAAConfig:
    """Parameters of the TAA (shared by the PyTorch and GLSL implementations). The defaults are the
    configuration tuned on the training scenes (``python -m engine_bridge.tune_taa``, ``docs/taa.md``);
    :meth:`classic` is the untuned textbook TAA the project started with.

    Attributes:
        alpha: floor of the current-frame weight in the blend, in (0, 1] (UE4 0.04, Salvi "typically 10%").
        gamma: variance-clip box half-size in standard deviations, > 0.
        unjitter: re-sample the current frame bilinearly at ``centre - jitter_px`` (exclusive with a
            ``filter``).
        filter: current-frame estimate, one of :data:`FILTERS`.
        filter_sigma_px: standard deviation of the ``gaussian`` filter in render pixels, > 0.
        dilate_motion: take the motion of the closest-depth pixel of the 3x3 (needs depth).
        depth_rejection: reject the history on depth disocclusion (needs depth).
        depth_tolerance: relative depth difference that counts as a disocclusion, > 0.
        perceptual_clip: neighbourhood statistics and clipping in the luma-tonemapped YCoCg.
        motion_feedback: current-weight increase per render pixel of motion length, >= 0.
        clip_feedback: current-weight increase per unit of clip fraction, >= 0.
        feedback_max: cap of the adaptive current-frame weight, in [alpha, 1].
        sharpen: output-only sharpening strength, >= 0 (0 = off).
    """

    # Tuned defaults: the winner of `python -m engine_bridge.tune_taa` on the training scenes (docs/taa.md,
    # recorded in configs/taa_tuned.json; a test keeps the two equal).
    alpha: float = 0.25
    gamma: float = 1.5
    unjitter: bool = False
    filter: str = "gaussian"
    filter_sigma_px: float = 0.35
    dilate_motion: bool = True
    depth_rejection: bool = True
    depth_tolerance: float = 0.1
    perceptual_clip: bool = False
    motion_feedback: float = 0.2
    clip_feedback: float = 0.0
    feedback_max: float = 0.8
    sharpen: float = 0.2

    def __post_init__(self):
        check_resolve_fields(self, ("unjitter", "dilate_motion", "depth_rejection", "perceptual_clip"))
        if self.filter not in FILTERS:
            raise InvalidArgument("unknown TAA filter", field="filter", expected=", ".join(FILTERS),
                                  actual=repr(self.filter))
        if self.unjitter and self.filter != "none":
            raise InvalidArgument("unjitter and a reconstruction filter are alternatives", field="unjitter",
                                  expected="unjitter=False when filter != 'none'", actual="both on")

    @classmethod
    def classic(cls, **overrides) -> TAAConfig:
        """The textbook TAA (alpha 0.1, gamma 1, jittered sample as the pixel value, no depth, clipping in
        linear YCoCg, constant feedback, no sharpening): the project's original, untuned baseline, with
        ``overrides`` (field names) applied."""
        base = dict(alpha=0.1, gamma=1.0, unjitter=False, filter="none", filter_sigma_px=0.47,
                    dilate_motion=False, depth_rejection=False, depth_tolerance=0.05, perceptual_clip=False,
                    motion_feedback=0.0, clip_feedback=0.0, feedback_max=1.0, sharpen=0.0)
        unknown = set(overrides) - set(base)
        if unknown:
            raise InvalidArgument("unknown TAAConfig keys", field=", ".join(sorted(unknown)),
                                  expected=", ".join(sorted(base)), actual=", ".join(sorted(unknown)))
        return cls(**{**base, **overrides})

    @property
    def uses_depth(self) -> bool:
        """Whether this configuration needs a depth input (motion dilation or depth rejection)."""
        return self.dilate_motion or self.depth_rejection

    def without_depth(self) -> TAAConfig:
        """The same configuration with the depth-based options switched off."""
        return replace(self, dilate_motion=False, depth_rejection=False)

    def to_dict(self) -> dict:
        """Plain-dict form (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TAAConfig:
        """Build from :meth:`to_dict` output (missing keys take the class defaults).

        Raises:
            InvalidArgument: unknown keys or bad values.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidArgument("unknown TAAConfig keys", field=", ".join(sorted(unknown)),
                                  expected=", ".join(sorted(names)), actual=", ".join(sorted(unknown)))
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


class _TexelFetcher:
    """Clamp-to-edge texel fetches from an image (N,C,H,W) at integer positions, the way GLSL's ``texelFetch``
    on clamped coordinates reads. Each fetch is one ``torch.gather`` over the channel planes, returned as an
    (N,H,W,C) view (3x faster here than advanced indexing into a channels-last copy, measured 2026-12-04 at
    960x544: 1.8 against 6.0 ms per fetch; the same values, so every result is bit-identical)."""

    def __init__(self, image: torch.Tensor):
        n, c, h, w = image.shape
        self.shape = (n, c, h, w)
        self.planes = image.reshape(n, c, h * w)

    def columns(self, ix: torch.Tensor) -> torch.Tensor:
        """Clamped column indices for integer x positions (N,H,W)."""
        return ix.clamp(0, self.shape[3] - 1)

    def rows(self, iy: torch.Tensor) -> torch.Tensor:
        """Offsets of the clamped rows within an image for integer y positions (N,H,W)."""
        return iy.clamp(0, self.shape[2] - 1) * self.shape[3]

    def fetch(self, row: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
        """Texels at (row offset, column), as an (N,H,W,C) view."""
        n, c, h, w = self.shape
        index = (row + column).view(n, 1, h * w).expand(n, c, h * w)
        return torch.gather(self.planes, 2, index).view(n, c, h, w).permute(0, 2, 3, 1)


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


def tonemap_ycocg(ycocg: torch.Tensor) -> torch.Tensor:
    """Luma tonemap in YCoCg: ``q = p / (1 + p_Y)`` (the YCoCg of ``c / (1 + Y(c))``), (N,3,...)."""
    return ycocg / (1.0 + ycocg[:, 0:1])


def untonemap_ycocg(ycocg_t: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`tonemap_ycocg`: ``p = q / max(1 - q_Y, TONEMAP_EPS)``, (N,3,...)."""
    return ycocg_t / torch.clamp_min(1.0 - ycocg_t[:, 0:1], TONEMAP_EPS)


def clip_ratio(q: torch.Tensor, centre: torch.Tensor, half_extent: torch.Tensor) -> torch.Tensor:
    """How far ``q`` lies outside the AABB ``centre +- half_extent``: the largest per-axis ratio
    ``|q - centre| / (half_extent + CLIP_EPS)``, (N,1,...); > 1 means outside."""
    return ((q - centre) / (half_extent + CLIP_EPS)).abs().amax(dim=1, keepdim=True)


def clip_towards_centre(q: torch.Tensor, centre: torch.Tensor, half_extent: torch.Tensor) -> torch.Tensor:
    """Clip ``q`` onto the AABB ``centre +- half_extent`` along the segment to the centre.

    Playdead INSIDE ``clip_aabb``.

    All (N,3,H,W) in the same space (YCoCg here). Points inside the box are returned unchanged.
    """
    return _clip_by_ratio(q, centre, clip_ratio(q, centre, half_extent))


def _clip_by_ratio(q: torch.Tensor, centre: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    return torch.where(ratio > 1.0, centre + (q - centre) / ratio.clamp_min(1.0), q)


def _neighbours(image: torch.Tensor):
    """The 9 clamp-to-edge 3x3 neighbours of every pixel of (N,C,H,W), in the order dy = -1..1 (outer),
    dx = -1..1 (inner): yields ``(dx, dy, (N,C,H,W))``. GLSL loops in the same order."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    h, w = image.shape[-2:]
    for dy in range(3):
        for dx in range(3):
            yield dx - 1, dy - 1, padded[:, :, dy:dy + h, dx:dx + w]


def dilate_motion(motion_px: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closest-depth motion dilation over the clamp-to-edge 3x3 neighbourhood.

    Args:
        motion_px: (N,2,H,W) motion vectors.
        depth: (N,1,H,W) positive linear view depth.

    Returns:
        ``(motion, depth)``: each pixel's motion and depth taken from the neighbour with the smallest depth
        (the first in scan order on ties, as GLSL's strict ``<``), (N,2,H,W) and (N,1,H,W).
    """
    best_depth = best_motion = None
    motion_nb = _neighbours(motion_px)
    for (_, _, d), (_, _, m) in zip(_neighbours(depth), motion_nb):
        if best_depth is None:
            best_depth, best_motion = d, m
            continue
        closer = d < best_depth
        best_depth = torch.where(closer, d, best_depth)
        best_motion = torch.where(closer, m, best_motion)
    return best_motion, best_depth


def reconstruction_weights(jitter_px: tuple[float, float], sigma_px: float) -> np.ndarray:
    """Normalised weights of the 3x3 jittered samples for the jitter-aware Gaussian filter.

    The sample of the pixel at offset ``o = (dx, dy)`` was taken at ``o + jitter`` from this pixel's centre;
    its weight is ``exp(-|o + jitter|^2 / (2 sigma^2))``. Computed once per frame on the host in float32 and
    handed to GLSL as uniforms, so both implementations use the same nine numbers.

    Returns:
        (9,) float32 weights in :func:`_neighbours` order (dy outer, dx inner), summing to 1 (to rounding).
    """
    offsets = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], np.float64)
    d = offsets + np.asarray(jitter_px, np.float64)
    wgt = np.exp(-(d * d).sum(1) / (2.0 * sigma_px * sigma_px))
    return (wgt / wgt.sum()).astype(np.float32)


def reconstruct_current(color: torch.Tensor, jitter_px, sigma_px: float) -> torch.Tensor:
    """Jitter-aware Gaussian reconstruction of the pixel-centre value from the 3x3 jittered samples
    (weights: :func:`reconstruction_weights`; edge pixels reuse the clamped texel, as GLSL's clamped
    ``texelFetch``).

    Args:
        color: (N,3,H,W) jittered samples, >= 0.
        jitter_px: (x, y) this frame's jitter in render pixels (+y down), or an (N, 2) tensor of one
            jitter per batch element (training batches; each row's weights are :func:`reconstruction_weights`
            of that row, so a row gives exactly what its tuple gives).
        sigma_px: Gaussian standard deviation in render pixels.

    Returns:
        (N,3,H,W) filtered current frame.
    """
    if isinstance(jitter_px, torch.Tensor):
        rows = [reconstruction_weights(tuple(r), sigma_px) for r in jitter_px.detach().cpu().double().tolist()]
        table = torch.from_numpy(np.stack(rows)).to(color.device)  # (N, 9) float32
        weights = [table[:, k].view(-1, 1, 1, 1) for k in range(9)]
    else:
        weights = reconstruction_weights(jitter_px, sigma_px).tolist()
    total = None
    for wgt, (_, _, c) in zip(weights, _neighbours(color)):
        total = wgt * c if total is None else total + wgt * c
    return total


def history_depth_far(history_depth: torch.Tensor, ss_pos: torch.Tensor) -> torch.Tensor:
    """The farthest previous-frame depth among the 2x2 bilinear footprint texels of ``ss_pos``.

    Args:
        history_depth: (N,1,H,W) previous frame's linear view depth.
        ss_pos: (N,2,H,W) top-down pixel positions in the previous frame.

    Returns:
        (N,1,H,W) the maximum of the 4 clamp-to-edge texels around ``ss_pos``.
    """
    base = torch.floor(ss_pos - 0.5)
    ix, iy = base[:, 0].long(), base[:, 1].long()
    texels = _TexelFetcher(history_depth)
    x0, x1 = texels.columns(ix), texels.columns(ix + 1)
    y0, y1 = texels.rows(iy), texels.rows(iy + 1)
    far = torch.maximum(torch.maximum(texels.fetch(y0, x0), texels.fetch(y0, x1)),
                        torch.maximum(texels.fetch(y1, x0), texels.fetch(y1, x1)))
    return far.permute(0, 3, 1, 2)


def _luma_tonemap_rgb(rgb: torch.Tensor) -> torch.Tensor:
    return rgb / (1.0 + rgb_to_ycocg(rgb)[:, 0:1])


def _luma_untonemap_rgb(rgb_t: torch.Tensor) -> torch.Tensor:
    return rgb_t / torch.clamp_min(1.0 - rgb_to_ycocg(rgb_t)[:, 0:1], TONEMAP_EPS)


def taa_sharpen(resolved: torch.Tensor, strength: float) -> torch.Tensor:
    """Output-only sharpening: unsharp mask with the 4-neighbour cross in the luma-tonemapped domain,
    ``t + strength * (t - mean(cross))``, clamped per channel to the min and max of the cross and centre.

    Args:
        resolved: (N,3,H,W) linear HDR TAA output (the history; it is not modified).
        strength: >= 0; 0 returns a copy.

    Returns:
        (N,3,H,W) linear HDR display image.
    """
    if strength == 0.0:
        return resolved.clone()
    t = _luma_tonemap_rgb(resolved)
    padded = F.pad(t, (1, 1, 1, 1), mode="replicate")
    h, w = t.shape[-2:]
    up, down = padded[:, :, 0:h, 1:w + 1], padded[:, :, 2:h + 2, 1:w + 1]
    left, right = padded[:, :, 1:h + 1, 0:w], padded[:, :, 1:h + 1, 2:w + 2]
    cross_mean = (((up + down) + left) + right) * 0.25
    lo = torch.minimum(torch.minimum(torch.minimum(up, down), torch.minimum(left, right)), t)
    hi = torch.maximum(torch.maximum(torch.maximum(up, down), torch.maximum(left, right)), t)
    sharpened = torch.minimum(torch.maximum(t + strength * (t - cross_mean), lo), hi)
    return _luma_untonemap_rgb(sharpened).clamp_min(0.0)


def taa_resolve(color: torch.Tensor, motion_px: torch.Tensor, history: torch.Tensor | None,
                config: TAAConfig = TAAConfig(), jitter_px: tuple[float, float] = (0.0, 0.0),
                depth: torch.Tensor | None = None, history_depth: torch.Tensor | None = None) -> torch.Tensor:
    """One TAA frame, functional form: no shape checks (callers validate, as :class:`TemporalAA` and
    ``qwplugin.runtime.Context`` do). Sharpening is not applied here (see :func:`taa_sharpen`).

    Args:
        color: (N,3,H,W) float32 linear HDR, this frame's jittered render.
        motion_px: (N,2,H,W) float32, contract motion vectors (previous = current + motion, render px).
        history: (N,3,H,W) float32 previous output, or None for reset.
        config: the TAA parameters.
        jitter_px: this frame's jitter (x, y) in render pixels, or an (N, 2) tensor of one jitter per batch
            element (see :func:`reconstruct_current`).
        depth: (N,1,H,W) float32 positive linear view depth; required when ``config.uses_depth``.
        history_depth: (N,1,H,W) the previous frame's depth, for ``depth_rejection`` (None: no test).

    Returns:
        (N,3,H,W) float32 linear HDR resolved colour: the next frame's history.

    Raises:
        InvalidArgument: ``config.uses_depth`` and no depth.
    """
    if config.uses_depth and depth is None:
        raise InvalidArgument("this TAA configuration needs depth (dilate_motion / depth_rejection)",
                              field="depth", expected="(N,1,H,W) linear view depth, or "
                              "TAAConfig.without_depth()", actual="None")
    color = color.clamp_min(0.0)
    n, _, h, w = color.shape
    centres = pixel_centres(n, h, w, color.device)
    if config.filter == "gaussian":
        current = reconstruct_current(color, jitter_px, config.filter_sigma_px)
    elif config.unjitter:
        jitter = torch.as_tensor(jitter_px, dtype=torch.float32, device=color.device).view(-1, 2, 1, 1)
        current = sample_bilinear(color, centres - jitter)
    else:
        current = color
    if history is None:
        return current.clone()
    motion, depth_cur = (dilate_motion(motion_px, depth) if config.dilate_motion else (motion_px, depth))
    ss_prev = centres + motion
    valid = ((ss_prev[:, 0:1] >= 0.0) & (ss_prev[:, 0:1] <= w)
             & (ss_prev[:, 1:2] >= 0.0) & (ss_prev[:, 1:2] <= h))
    if config.depth_rejection and history_depth is not None:
        far = history_depth_far(history_depth, ss_prev)
        valid = valid & ~(far < depth_cur * (1.0 - config.depth_tolerance))
    hist = sample_catmull_rom(history, ss_prev).clamp_min(0.0)
    to_box = tonemap_ycocg if config.perceptual_clip else (lambda x: x)
    from_box = untonemap_ycocg if config.perceptual_clip else (lambda x: x)
    mean, sigma = neighbourhood_moments(to_box(rgb_to_ycocg(color)))
    hist_box = to_box(rgb_to_ycocg(hist))
    ratio = clip_ratio(hist_box, mean, config.gamma * sigma)
    hist = ycocg_to_rgb(from_box(_clip_by_ratio(hist_box, mean, ratio)))
    alpha = torch.full_like(ratio, config.alpha)
    if config.motion_feedback > 0.0:
        alpha = alpha + config.motion_feedback * torch.sqrt(motion[:, 0:1] * motion[:, 0:1]
                                                            + motion[:, 1:2] * motion[:, 1:2])
    if config.clip_feedback > 0.0:
        alpha = alpha + config.clip_feedback * (1.0 - 1.0 / ratio.clamp_min(1.0))
    alpha = alpha.clamp_max(config.feedback_max)
    w_cur = alpha / (1.0 + rgb_to_ycocg(current)[:, 0:1])
    w_hist = (1.0 - alpha) / (1.0 + rgb_to_ycocg(hist)[:, 0:1])
    blended = ((w_cur * current + w_hist * hist) / (w_cur + w_hist)).clamp_min(0.0)
    return torch.where(valid, blended, current)


class TemporalAA:
    """Stateful TAA: owns the history (colour and, when the configuration uses it, depth) and runs
    :func:`taa_resolve` and :func:`taa_sharpen` once per frame.

    A change of batch size or resolution between frames resets the history (as a resize does).

    Examples:
        >>> taa = TemporalAA(TAAConfig.classic())
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
        self._history_depth: torch.Tensor | None = None
        self._closed = False

    @property
    def history(self) -> torch.Tensor | None:
        """The stored history (N,3,H,W) float32 (a copy, unsharpened), or None after a reset."""
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
        """Resolve one frame.

        Args:
            color_linear: (N,3,H,W) floating linear HDR colour, jittered.
            motion_px: (N,2,H,W) floating motion in render pixels (previous = current + motion, +y down).
            reset: drop the history first (first frame, camera cut).
            jitter_px: (x, y) jitter of this frame in render pixels, each in [-0.5, 0.5].
            depth: (N,1,H,W) floating positive linear view depth; required when ``config.uses_depth``,
                ignored otherwise.

        Returns:
            (N,3,H,W) float32 linear HDR output (sharpened if ``config.sharpen``), a tensor the caller may
            modify.

        Raises:
            InvalidArgument: wrong shape, dtype, device, jitter range, or missing depth (history untouched).
            InvalidOperation: called after :meth:`close`.
        """
        if self._closed:
            raise InvalidOperation("TemporalAA.step called after close()")
        jitter = _check_inputs(color_linear, motion_px, reset, jitter_px)
        if self.config.uses_depth:
            _check_depth(depth, color_linear)
        return self._step(color_linear, motion_px, bool(reset), jitter, depth)

    def _step(self, color_linear: torch.Tensor, motion_px: torch.Tensor, reset: bool,
              jitter_px: tuple[float, float], depth: torch.Tensor | None) -> torch.Tensor:
        """:meth:`step` on arguments already checked (by :meth:`step`, or by a caller that checked the
        whole frame with :mod:`qwplugin.runtime.validate`, such as :class:`qwplugin.runtime.methods.TAA`)."""
        assert not self._closed
        assert depth is not None or not self.config.uses_depth
        color = color_linear.float()
        motion = motion_px.float()
        depth_f = depth.float() if self.config.uses_depth else None
        if self._history is not None and self._history.shape != color.shape:
            self.reset()
        if self._history is not None and self._history.device != color.device:
            self._history = self._history.to(color.device)
            if self._history_depth is not None:
                self._history_depth = self._history_depth.to(color.device)
        jitter = (float(jitter_px[0]), float(jitter_px[1]))
        out = taa_resolve(color, motion, None if reset else self._history, self.config, jitter,
                          depth=depth_f, history_depth=self._history_depth)
        self._history = out
        self._history_depth = depth_f.clone() if depth_f is not None else None
        return taa_sharpen(out, self.config.sharpen)


def _check_depth(depth, color) -> None:
    n, _, h, w = color.shape
    if not isinstance(depth, torch.Tensor) or tuple(depth.shape) != (n, 1, h, w):
        raise InvalidArgument("this TAA configuration needs depth matching color_linear", field="depth",
                              expected=f"({n},1,{h},{w}) linear view depth (or TAAConfig.without_depth())",
                              actual=_describe(depth) if depth is not None else "None")
    if not depth.is_floating_point() or depth.device != color.device:
        raise InvalidArgument("depth must be floating point on color's device", field="depth",
                              expected=f"float on {color.device}", actual=f"{depth.dtype} on {depth.device}")


def _check_inputs(color, motion, reset, jitter_px) -> tuple[float, float]:
    """Argument checks of :meth:`TemporalAA.step`; returns the checked jitter."""
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
    return check_jitter(jitter_px)


def _describe(x) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
