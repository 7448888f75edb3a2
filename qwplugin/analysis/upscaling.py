"""Cost of the upscaling presets per display pixel and per output frame (e.g. 1080p), for each scale.

``python -m qwplugin.analysis --upscaling --size 1920x1080`` prints it. For each scale of
:data:`qwplugin.upscale.MODES` the render size is :func:`qwplugin.render_size_for` (FSR 2's floor rule) and:

- **QW-Net + Lanczos-3** (``qwnet-int4+lanczos``, what ships for upscaling until QW-Net has display-size
  weights): the network's MACs at the render size (:func:`qwplugin.analysis.macs.mac_report`, its counting
  rules), plus the spatial upscaler's MACs at the display size counted as the GL pass runs it
  (``shaders/upscale_spatial.frag.glsl``: ``taps_x * taps_y`` taps x 3 channels per display pixel, 6 x 6 for
  Lanczos-3, 4 x 4 bicubic, 2 x 2 bilinear; the PyTorch twin's dense matrix products do more arithmetic and are
  not what is counted). At native scale there is no upscaler.
- **The upscaling QW-Net** (``qwnet-fast-up2``, :func:`upscaling_network_costs`): the network itself at the
  display size, :func:`qwplugin.model.upscale.upscale_mac_report` (U-Net at the display size, or at the render
  size for the render extractor; the filter at the display size), for the scales a model exists for (2x). Its
  TAAU candidate is not counted (as the TAAU below).
- **TAAU** is a hand-written shader (kernel weights with exponentials, a 16-tap Catmull-Rom history fetch,
  clipping, a sharpening pass): its ALU work is **not** counted in MACs here; its cost is reported in
  milliseconds by ``python -m engine_bridge.bench_passes --upscaling``.

Anchors (per 1080p output frame, from the project's references): FSR 4 about 13.8 GMAC, Arm NSS about 5.9 GMAC.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwplugin.analysis.macs import mac_report
from qwplugin.model.config import ModelConfig

SPATIAL_TAPS = {"bilinear": 2, "bicubic": 4, "lanczos": 6}
"""Taps per axis of the spatial upscalers (the GL pass runs taps x taps per display pixel)."""

ANCHORS_GMAC_1080P = {"FSR 4": 13.8, "Arm NSS": 5.9}
"""Published network costs per 1080p output frame (GMAC), for comparison."""


@dataclass(frozen=True)
class UpscalingCost:
    """One scale: sizes and MACs per output frame.

    Attributes:
        scale: the mode name (or the ratio as text); factor: the nominal per-axis scale.
        render_size, display_size: ``(width, height)``.
        network_macs: the network at the render size; spatial_macs: the spatial upscaler at the display size.
    """

    scale: str
    factor: float
    render_size: tuple[int, int]
    display_size: tuple[int, int]
    network_macs: int
    spatial_macs: int

    @property
    def total(self) -> int:
        """MACs per output frame."""
        return self.network_macs + self.spatial_macs

    @property
    def per_display_pixel(self) -> float:
        """MACs per display (output) pixel."""
        return self.total / (self.display_size[0] * self.display_size[1])


def spatial_upscale_macs(display_size: tuple[int, int], method: str = "lanczos") -> int:
    """MACs of one spatial upscale to ``display_size`` as the GL pass runs it: ``taps^2 * 3`` per pixel.

    Examples:
        >>> spatial_upscale_macs((1920, 1080), "lanczos")
        223948800
    """
    taps = SPATIAL_TAPS[method]
    return taps * taps * 3 * display_size[0] * display_size[1]


def upscaling_costs(config: ModelConfig, display_size: tuple[int, int] = (1920, 1080), spatial: str = "lanczos",
                    scales=None, include_warp: bool = True) -> list[UpscalingCost]:
    """The cost of "QW-Net at the render size, then ``spatial``" for each scale.

    Args:
        config: the network configuration (the shipped ``qwnet`` model is the ``paper`` preset).
        display_size: the output size, e.g. 1080p.
        spatial: ``"bilinear"``, ``"bicubic"`` or ``"lanczos"``.
        scales: mode names or ratios (default every mode of :data:`qwplugin.upscale.MODES`).
        include_warp: count the network's history warp (as :func:`~qwplugin.analysis.macs.mac_report`).

    Raises:
        InvalidArgument: a bad display size or scale.
    """
    from qwplugin.upscale import MODES, render_size_for, scale_factor

    out = []
    for scale in (scales or list(MODES)):
        factor = scale_factor(scale, field="--scales")
        render = render_size_for(display_size, factor)
        network = mac_report(config, render[1], render[0], include_warp=include_warp).total
        upscaler = 0 if render == tuple(display_size) else spatial_upscale_macs(display_size, spatial)
        out.append(UpscalingCost(str(scale), factor, render, tuple(display_size), network, upscaler))
    return out


def format_upscaling_markdown(costs: list[UpscalingCost], config_name: str, spatial: str = "lanczos") -> str:
    """The costs as a markdown table with the anchors and the TAAU note."""
    from qwplugin.runtime.upscalers import SPATIAL_LABELS

    dw, dh = costs[0].display_size
    lines = [f"Upscaling cost per {dw}x{dh} output frame: QW-Net ({config_name}) at the render size, then "
             f"{SPATIAL_LABELS[spatial]} ({SPATIAL_TAPS[spatial]}x{SPATIAL_TAPS[spatial]} taps x 3 channels per "
             "display pixel, as the GL pass runs it).", "",
             "| scale | render size | QW-Net GMAC | upscaler GMAC | total GMAC / frame | MAC / display px |",
             "|---|---|---:|---:|---:|---:|"]
    for c in costs:
        lines.append(f"| {c.scale} ({c.factor:g}x) | {c.render_size[0]}x{c.render_size[1]} | "
                     f"{c.network_macs / 1e9:.2f} | {c.spatial_macs / 1e9:.3f} | {c.total / 1e9:.2f} | "
                     f"{c.per_display_pixel:,.0f} |")
    anchors = ", ".join(f"{k} {v:g} GMAC" for k, v in ANCHORS_GMAC_1080P.items())
    lines += ["", f"- anchors per 1080p output frame: {anchors}",
              "- TAAU: not counted in MACs (a hand-written shader with exponentials, a 16-tap Catmull-Rom history "
              "fetch and clipping); its cost is measured in milliseconds: `python -m engine_bridge.bench_passes "
              "--upscaling`"]
    return "\n".join(lines)


UPSCALING_NETWORKS = {"qwnet-fast-up2": ("fast", 2.0, {"taa_candidate": "tuned"})}
"""The upscaling QW-Nets the runtime names: (preset, scale, further ModelConfig fields)."""


def upscaling_network_costs(display_size: tuple[int, int] = (1920, 1080)) -> list[tuple[str, str, tuple[int, int], int]]:
    """MACs per output frame of the upscaling QW-Nets (:data:`UPSCALING_NETWORKS`), both extractor placements:
    ``(name, extractor, render_size, MACs)`` rows, from :func:`qwplugin.model.upscale.upscale_mac_report`.

    Raises:
        InvalidArgument: a bad display size.
    """
    from qwplugin.model.upscale import expected_render_size, upscale_mac_report

    rows = []
    dw, dh = display_size
    for name, (preset, scale, fields) in UPSCALING_NETWORKS.items():
        for extractor in ("display", "render"):
            config = ModelConfig.preset(preset, upscale_factor=scale, upscale_extractor=extractor, **fields)
            h, w = expected_render_size(config, (dh, dw))
            rows.append((name, extractor, (w, h), upscale_mac_report(config, dh, dw).total))
    return rows


def format_network_markdown(rows, display_size: tuple[int, int]) -> str:
    """:func:`upscaling_network_costs` as a markdown table."""
    dw, dh = display_size
    lines = [f"The upscaling QW-Net per {dw}x{dh} output frame (the network at the display size; TAAU candidate "
             "not counted):", "", "| network | extractor at | render size | GMAC / frame | MAC / display px |",
             "|---|---|---|---:|---:|"]
    for name, extractor, (rw, rh), macs in rows:
        lines.append(f"| {name} | {extractor} resolution | {rw}x{rh} | {macs / 1e9:.2f} | {macs / (dw * dh):,.0f} |")
    return "\n".join(lines)
