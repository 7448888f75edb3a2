"""Expected MACs per pixel of the routed reconstructor (``qwnet-routed``, :mod:`qwplugin.runtime.routed`).

Per pixel: ``sum_j frac_j MAC_j`` plus the classifier, with the light path (TAA) running everywhere:

    MAC = MAC_TAA + MAC_features + MAC_classifier + MAC_heavy(f),
    MAC_heavy(f) = K * MAC_QWNet(P x P) / (W H),   K = round(f * tiles),  P = tile + 2 halo,

that is about ``f (P / tile)^2`` times QW-Net's MACs per pixel while the patches hold fewer pixels than the frame, and
``MAC_QWNet(frame)`` once they would hold as many (the reconstructor then runs QW-Net on the whole frame).
``MAC_QWNet`` is :func:`qwplugin.analysis.macs.mac_report` at the size the network runs at.

The TAA and feature counts are estimates counted from the code's operations (same rules as
:mod:`qwplugin.analysis.macs`: one multiply-add per tap and channel), listed in :data:`TAA_MACS` and
:data:`FEATURE_MACS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwplugin.analysis.macs import mac_report
from qwplugin.errors import InvalidArgument
from qwplugin.model.config import ModelConfig

TAA_MACS = {"gaussian reconstruction of the current sample (3x3 taps x 3)": 27,
            "Catmull-Rom history fetch (16 taps x 3, + weights)": 64,
            "YCoCg conversions (3 x 9)": 27, "3x3 neighbourhood moments (9 x 3 x 2)": 54,
            "variance clip": 6, "motion feedback and luma-weighted blend": 13, "sharpen (5 taps x 3)": 15}
"""The tuned TAA (``TAAConfig()``) per pixel, counted from :func:`qwplugin.taa.taa_resolve` (estimate)."""
FEATURE_MACS = {"depth reprojection (bilinear)": 4, "TAA history reprojection (bilinear x 3)": 12,
                "YCoCg of colour and history (2 x 9)": 18, "3x3 moments (9 x 3 x 2)": 54, "clip ratio": 6,
                "local contrast (luma 3 + two 3x3 means 18 + ratio 1)": 22, "motion length": 2}
"""The classifier inputs per pixel (:mod:`qwplugin.routing.features`, estimate)."""


def classifier_macs_per_pixel(tile: int, hidden: int = 16, in_features: int = 4) -> float:
    """Tile pooling (mean: one add per feature per pixel) + the MLP once per tile, per pixel."""
    mlp = 2 * in_features * hidden + hidden * hidden + hidden * 2
    return in_features + mlp / (tile * tile)


@dataclass(frozen=True)
class RoutedCost:
    """MACs per pixel of one routed frame (``heavy`` includes the halo or the full-frame call)."""

    heavy_fraction: float
    heavy: float
    light: float
    features: float
    classifier: float
    full_frame: bool

    @property
    def total(self) -> float:
        return self.heavy + self.light + self.features + self.classifier


def routed_macs(config: ModelConfig, width: int, height: int, heavy_fraction: float, tile: int = 64,
                halo: int = 16) -> RoutedCost:
    """Expected MACs per pixel at ``heavy_fraction`` of the ``tile`` tiles (module docstring).

    Raises:
        InvalidArgument: a fraction outside [0, 1] or a bad size.
    """
    if not 0.0 <= heavy_fraction <= 1.0:
        raise InvalidArgument("heavy fraction must be in [0, 1]", field="heavy_fraction", expected="[0, 1]",
                              actual=repr(heavy_fraction))
    if width < 1 or height < 1:
        raise InvalidArgument("bad frame size", field="size", expected=">= 1 x 1", actual=f"{width}x{height}")
    tiles = -(-width // tile) * -(-height // tile)
    k = round(heavy_fraction * tiles)
    p = tile + 2 * halo
    full = k > 0 and k * p * p >= width * height
    if k == 0:
        heavy = 0.0
    elif full:
        heavy = mac_report(config, height, width).total / (width * height)
    else:
        heavy = k * mac_report(config, p, p).total / (width * height)
    return RoutedCost(k / tiles, heavy, float(sum(TAA_MACS.values())), float(sum(FEATURE_MACS.values())),
                      classifier_macs_per_pixel(tile), full)


def format_routing_markdown(config: ModelConfig, width: int, height: int, fractions=(0.0, 0.1, 0.25, 0.5, 1.0),
                            tile: int = 64, halo: int = 16) -> str:
    """A markdown table of :func:`routed_macs` over ``fractions``, with the always-heavy QW-Net for reference."""
    always = mac_report(config, height, width).total / (width * height)
    lines = [f"Routed QW-Net / TAA, {width}x{height}, {tile} px tiles, halo {halo} px (MAC per pixel)", "",
             "| heavy fraction | QW-Net part | TAA | features | classifier | total | vs always-heavy |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for f in fractions:
        c = routed_macs(config, width, height, f, tile, halo)
        lines.append(f"| {c.heavy_fraction:.3f}{' (full frame)' if c.full_frame else ''} | {c.heavy:,.0f} | "
                     f"{c.light:,.0f} | {c.features:,.0f} | {c.classifier:.1f} | {c.total:,.0f} | "
                     f"{c.total / always:.2f}x |")
    lines.append(f"\nAlways-heavy QW-Net: {always:,.0f} MAC per pixel.")
    return "\n".join(lines)
