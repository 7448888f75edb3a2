"""QW-Net for temporal upscaling: render-resolution jittered frames in, display-resolution frames out.

Per frame (``s`` = display / render per axis; display ``H x W``, render ``h x w``). ``config.upscale_factor``
is the scale a model was trained at and gives its default sizes; the display extractor runs at any scale
in [1, 3] (:func:`check_scale`: nothing in the network depends on ``s`` except through the sizes and the
jitter, so a scale it was not trained at is a shift of its input distribution, not an error), the render
extractor at 2x only:

1. **Current frame on the display grid** (:func:`qwplugin.model.upscale_input.filled_current`): each render
   sample written into the display pixel containing its jittered position (NSRR zero-upsampling), the
   jitter-aware bilinear interpolation of the samples in the pixels no sample hit, plus the coverage mask
   and each sample's sub-pixel offset. Float preprocessing, like :func:`~qwplugin.model.input_unit.prepare_history`.
2. **History** at display resolution: the previous display-size output warped by the render motion
   turned into display motion (:func:`~qwplugin.model.upscale_input.display_motion`); see
   :func:`run_upscale_sequence`.
3. **The 4-bit U-Net** (:class:`~qwplugin.model.unet.FeatureExtractor`, unchanged) on
   ``[filled (3), history (3), input unit (4, optional), depth (1, optional), mask (1), offset (2)]`` at
   display resolution (``upscale_extractor="display"``, the default), or on the render-resolution
   ``[colour, history area-averaged to the render grid, ...]`` with its finest features nearest-upsampled
   x2 for the display-resolution filter stage (``"render"``, scale 2 only, ~1/4 of the extractor MACs).
4. **The FP32 kernel-predicting filter** (:class:`~qwplugin.model.filter_net.FilterNetwork`, unchanged):
   its 18 full-resolution taps read 3x3 of the filled current frame and 3x3 of the warped history at
   display resolution, so the output is a convex combination of render samples (at their true positions)
   and history pixels. With the render extractor the filter has one more level than the U-Net: level 0 at
   display resolution reads the upsampled finest features, level ``d + 1`` the U-Net's level ``d``.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.model.config import ModelConfig
from qwplugin.model.filter_net import FilterNetwork
from qwplugin.model.input_unit import assemble_input, prepare_history
from qwplugin.model.unet import FeatureExtractor
from qwplugin.model.upscale_input import check_jitter, display_motion, filled_current, nearest_to_display
from qwplugin.ops._checks import check_tensor
from qwplugin.ops.colour import from_network, to_network
from qwplugin.ops.padding import crop_to, pad_to_multiple


def filter_config(config: ModelConfig) -> ModelConfig:
    """The configuration of the filter network of an upscaling model: ``config`` itself for the display
    extractor; for the render extractor one more (display-resolution) level of ``encoder_channels[0]``
    channels in front (only ``levels``, ``encoder_channels`` and the filter fields matter to the filter)."""
    if config.upscale_extractor == "display":
        return config
    return dataclasses.replace(config, encoder_channels=(config.encoder_channels[0],) + config.encoder_channels,
                               encoder_convs=(1,) + config.encoder_convs, decoder_convs=(0,) + config.decoder_convs)


def expected_render_size(config: ModelConfig, display_hw: tuple[int, int]) -> tuple[int, int]:
    """(h, w) an upscaling model of ``config`` accepts for a (H, W) display: ``floor(display / s)`` per axis
    (the FSR 2 rounding of :func:`qwplugin.upscale.render_size_for`)."""
    from qwplugin.upscale import render_size_for

    w, h = render_size_for((int(display_hw[1]), int(display_hw[0])), config.upscale_factor)
    return h, w


def check_scale(config: ModelConfig, render_hw: tuple[int, int], display_hw: tuple[int, int],
                field: str = "color_nw") -> tuple[float, float]:
    """Whether an upscaling model of ``config`` runs on a (h, w) render for a (H, W) display.

    The display extractor takes any pair whose per-axis scale is in [1, 3]
    (:func:`qwplugin.upscale.scale_of`) except 1x on both axes (colour at the display size is a caller's
    mistake far more often than a wish; the anti-aliasing models serve 1x); the render extractor only
    ``(2h, 2w)``.

    Returns:
        ``(sx, sy)``, the effective scale.

    Raises:
        InvalidArgument: ``field`` (default ``color_nw``), naming the sizes that fit.
    """
    from qwplugin.upscale import scale_of

    (h, w), (hd, wd) = render_hw, display_hw
    if config.upscale_extractor == "render":
        if (hd, wd) != (2 * h, 2 * w):
            raise InvalidArgument("the render-resolution extractor needs the display exactly twice the render "
                                  "size", field=field, expected=f"render {wd // 2}x{hd // 2} for display {wd}x{hd}",
                                  actual=f"render {w}x{h}, display {wd}x{hd}")
        return 2.0, 2.0
    eh, ew = expected_render_size(config, (hd, wd))
    trained = f"e.g. render {ew}x{eh} for display {wd}x{hd} ({config.upscale_factor:g}x, the scale it was trained at)"
    try:
        scale = scale_of((w, h), (wd, hd))
    except InvalidArgument as err:
        raise InvalidArgument("an upscaling model takes the colour at a render size 1 to 3 times smaller than "
                              "the display on each axis", field=field, expected=trained,
                              actual=f"render {w}x{h}, display {wd}x{hd}") from err
    if scale == (1.0, 1.0):
        raise InvalidArgument("an upscaling model needs a display larger than the render size (at 1x, the "
                              "anti-aliasing models)", field=field, expected=trained,
                              actual=f"render {w}x{h}, display {wd}x{hd}")
    return scale


def display_size_for(config: ModelConfig, render_hw: tuple[int, int]) -> tuple[int, int]:
    """The default (H, W) display of a render: ``round(render * s)`` per axis (exact at integer scales)."""
    return int(round(render_hw[0] * config.upscale_factor)), int(round(render_hw[1] * config.upscale_factor))


def check_upscale_inputs(config: ModelConfig, color_nw, history_nw, jitter_px, depth, candidate_nw=None) -> None:
    """Boundary checks of one upscaling frame (shapes in :class:`UpscaleQWNet`).

    Raises:
        InvalidArgument: naming the first wrong field (``color_nw`` not at the render size of the history's
            display size, ``history_nw``, ``jitter_px``, ``depth``, ``candidate_nw``).
    """
    check_tensor(color_nw, "color_nw", 4, channels=3)
    check_tensor(history_nw, "history_nw", 4, channels=3)
    n, _, h, w = color_nw.shape
    hd, wd = history_nw.shape[-2:]
    if history_nw.shape[0] != n:
        raise InvalidArgument("the history has one display frame per colour frame", field="history_nw",
                              expected=f"({n}, 3, H, W)", actual=f"shape {tuple(history_nw.shape)}")
    check_scale(config, (h, w), (hd, wd), "color_nw")
    check_jitter(jitter_px, n)
    if config.use_depth:
        if depth is None:
            raise InvalidArgument("this model uses depth (config.use_depth) but none was given", field="depth",
                                  expected="(N, 1, h, w) tensor", actual="None")
        check_tensor(depth, "depth", 4, channels=1)
        if depth.shape[0] != n or depth.shape[-2:] != (h, w):
            raise InvalidArgument("depth is at the render size", field="depth", expected=f"({n}, 1, {h}, {w})",
                                  actual=f"shape {tuple(depth.shape)}")
    if config.taa_candidate is not None:
        if candidate_nw is None:
            raise InvalidArgument("this model filters a TAAU candidate (config.taa_candidate) but none was given",
                                  field="candidate_nw", expected="(N, 3, H, W) tensor from "
                                  "qwplugin.model.taa_candidate.taau_candidate_nw", actual="None")
        check_tensor(candidate_nw, "candidate_nw", 4, channels=3)
        if candidate_nw.shape != history_nw.shape:
            raise InvalidArgument("the TAAU candidate is at the display size, like the history",
                                  field="candidate_nw", expected=f"shape {tuple(history_nw.shape)}",
                                  actual=f"shape {tuple(candidate_nw.shape)}")


def prepare_upscale_inputs(config: ModelConfig, color_nw: torch.Tensor, history_nw: torch.Tensor,
                           jitter_px: torch.Tensor, depth: torch.Tensor | None = None,
                           candidate_nw: torch.Tensor | None = None) -> dict:
    """The float front end of one frame (checked by :func:`check_upscale_inputs`), shared by the float and
    the integer model.

    With a TAAU candidate (``config.taa_candidate``) the candidate is three more U-Net input channels (at
    display resolution for the display extractor, area-averaged to the render grid for the render one) and
    the filter's third full-resolution image.

    Returns:
        ``net_input`` (the padded U-Net input), ``current`` and ``history`` (the padded display-resolution
        filter inputs, network domain), ``candidate`` (padded, or None) and ``display_hw`` ((H, W), to crop
        the output to).
    """
    check_upscale_inputs(config, color_nw, history_nw, jitter_px, depth, candidate_nw)
    with_candidate = config.taa_candidate is not None
    cfg = config
    hd, wd = history_nw.shape[-2:]
    current, mask, offset = filled_current(color_nw, jitter_px, (hd, wd))
    history_nw = prepare_history(current, history_nw, cfg)
    if cfg.upscale_extractor == "display":
        m = cfg.size_multiple
        depth_d = nearest_to_display(depth, (hd, wd)) if cfg.use_depth else None
        net = assemble_input(current, history_nw, depth_d, cfg.input_processing, cfg.use_depth,
                             candidate_nw if with_candidate else None)
        net_input = pad_to_multiple(torch.cat([net, mask, offset], dim=1), m)
        cur_p, hist_p = pad_to_multiple(current, m), pad_to_multiple(history_nw, m)
        cand_p = pad_to_multiple(candidate_nw, m) if with_candidate else None
    else:
        m = cfg.size_multiple
        hist_r = F.avg_pool2d(history_nw, 2)  # the display history area-averaged to the render grid
        net_input = assemble_input(pad_to_multiple(color_nw, m), pad_to_multiple(hist_r, m),
                                   pad_to_multiple(depth, m) if cfg.use_depth else None,
                                   cfg.input_processing, cfg.use_depth,
                                   pad_to_multiple(F.avg_pool2d(candidate_nw, 2), m) if with_candidate else None)
        cur_p, hist_p = pad_to_multiple(current, 2 * m), pad_to_multiple(history_nw, 2 * m)
        cand_p = pad_to_multiple(candidate_nw, 2 * m) if with_candidate else None
    return {"net_input": net_input, "current": cur_p, "history": hist_p, "candidate": cand_p,
            "display_hw": (hd, wd)}


class UpscaleQWNet(nn.Module):
    """QW-Net reconstructing at display resolution (see the module docstring).

    Args:
        config: a :class:`ModelConfig` with ``kind == "qwnet"`` and ``upscale_factor > 1``.

    Shape:
        ``forward(color_nw (N, 3, h, w), history_nw (N, 3, H, W), jitter_px (N, 2), depth (N, 1, h, w) | None)
        -> (N, 3, H, W)``, network domain; ``(h, w)`` at any scale of ``(H, W)`` :func:`check_scale` accepts
        (``config.upscale_factor``, the trained scale, is :func:`expected_render_size`).

    Attributes:
        config; ``features`` (the U-Net) and ``filter`` (the filter network), named as in :class:`QWNet`
        so that quantization, calibration and the integer export find them.
    """

    upscaling = True
    """Marks a model whose recurrence runs at display resolution and needs each frame's jitter."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.kind != "qwnet" or not config.upscales:
            raise InvalidArgument("UpscaleQWNet needs a QW-Net config with upscale_factor > 1", field="config",
                                  expected="kind 'qwnet', upscale_factor > 1",
                                  actual=f"kind {config.kind!r}, upscale_factor {config.upscale_factor}")
        self.config = config
        self.features = FeatureExtractor(config)
        self.filter = FilterNetwork(filter_config(config))

    def current_display(self, color_nw: torch.Tensor, jitter_px: torch.Tensor,
                        display_hw: tuple[int, int]) -> torch.Tensor:
        """The filled current frame on the display grid (N, 3, H, W): the history of a reset frame and the
        fallback of history pixels warped from outside the frame."""
        return filled_current(color_nw, jitter_px, display_hw)[0]

    def prepare(self, color_nw: torch.Tensor, history_nw: torch.Tensor, jitter_px: torch.Tensor,
                depth: torch.Tensor | None = None, candidate_nw: torch.Tensor | None = None) -> dict:
        """:func:`prepare_upscale_inputs` with this model's config."""
        return prepare_upscale_inputs(self.config, color_nw, history_nw, jitter_px, depth, candidate_nw)

    def filter_features(self, feats: list[torch.Tensor], scales: list) -> tuple[list[torch.Tensor], list]:
        """The U-Net's features as the filter reads them (render extractor: the finest upsampled x2 in front)."""
        if self.config.upscale_extractor == "display":
            return feats, scales
        return [F.interpolate(feats[0], scale_factor=2, mode="nearest")] + feats, [scales[0]] + scales

    def forward_with_features(self, color_nw: torch.Tensor, history_nw: torch.Tensor, jitter_px: torch.Tensor,
                              depth: torch.Tensor | None = None,
                              candidate_nw: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One frame: (output (N, 3, H, W) network domain, U-Net features at the padded size, finest first).

        Args:
            color_nw: (N, 3, h, w) aliased jittered frame, network domain, render size.
            history_nw: (N, 3, H, W) previous output warped to this frame (display size), network domain.
            jitter_px: (N, 2) this frame's jitter, render pixels.
            depth: (N, 1, h, w) linear view depth, when ``config.use_depth``.
            candidate_nw: (N, 3, H, W) TAAU candidate, network domain, when ``config.taa_candidate``
                (:func:`qwplugin.model.taa_candidate.taau_candidate_nw`).

        Raises:
            InvalidArgument: a wrong shape (naming the field), missing depth, jitter or candidate.
        """
        p = self.prepare(color_nw, history_nw, jitter_px, depth, candidate_nw)
        feats, scales = self.features(p["net_input"])
        ff, fs = self.filter_features(feats, scales)
        out = self.filter(ff, fs, p["current"], p["history"], candidate=p["candidate"])
        return crop_to(out, *p["display_hw"]), feats

    def forward(self, color_nw: torch.Tensor, history_nw: torch.Tensor, jitter_px: torch.Tensor,
                depth: torch.Tensor | None = None, candidate_nw: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructed display frame (N, 3, H, W); see :meth:`forward_with_features`."""
        return self.forward_with_features(color_nw, history_nw, jitter_px, depth, candidate_nw)[0]


def is_upscaling(model: nn.Module) -> bool:
    """True for a model whose recurrence runs at display resolution (:class:`UpscaleQWNet` and its integer twin)."""
    return bool(getattr(model, "upscaling", False))


def run_upscale_sequence(model: nn.Module, colors: torch.Tensor, motions_px: torch.Tensor, resets: torch.Tensor,
                         jitter_px: torch.Tensor, exposure: float | torch.Tensor = 1.0,
                         depth: torch.Tensor | None = None, return_network_domain: bool = False,
                         prev_output_nw: torch.Tensor | None = None,
                         display_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """The recurrence of :func:`qwplugin.model.recurrent.run_sequence` at display resolution.

    History rules as there: frame 0 without ``prev_output_nw`` and reset frames take the current frame
    (here :meth:`UpscaleQWNet.current_display`, the filled current frame); otherwise the previous output is
    warped by :func:`~qwplugin.model.upscale_input.display_motion` of the frame's motion, and pixels warped
    from outside the frame take the current frame.

    Args:
        model: an upscaling model (:func:`is_upscaling`).
        colors: (N, T, 3, h, w) aliased frames, linear HDR, render size.
        motions_px: (N, T, 2, h, w) motion, render pixels.
        resets: (N, T) bool.
        jitter_px: (N, T, 2) each frame's jitter, render pixels.
        exposure: float or (N,) tensor (as ``run_sequence``).
        depth: (N, T, 1, h, w) or None.
        return_network_domain: return network-domain outputs.
        prev_output_nw: (N, 3, H, W) network-domain display output before frame 0, or None.
        display_hw: (H, W); default the size of ``prev_output_nw``, else :func:`display_size_for`.

    Returns:
        (N, T, 3, H, W).

    Raises:
        InvalidArgument: wrong shapes (naming the field), missing jitter.
    """
    from qwplugin.model.recurrent import _exposure_nchw
    from qwplugin.model.upscale_step import upscale_step_nw

    check_tensor(colors, "colors", 5)
    check_tensor(motions_px, "motions_px", 5)
    n, t, _, h, w = colors.shape
    if motions_px.shape != (n, t, 2, h, w):
        raise InvalidArgument("motions_px must be (N, T, 2, h, w) like colors", field="motions_px",
                              expected=str((n, t, 2, h, w)), actual=f"shape {tuple(motions_px.shape)}")
    if not isinstance(jitter_px, torch.Tensor) or tuple(jitter_px.shape) != (n, t, 2):
        raise InvalidArgument("an upscaling model needs each frame's jitter", field="jitter_px",
                              expected=f"({n}, {t}, 2) tensor", actual=f"{getattr(jitter_px, 'shape', jitter_px)}")
    if not isinstance(resets, torch.Tensor) or resets.shape != (n, t):
        raise InvalidArgument("resets must be an (N, T) bool tensor", field="resets", expected=f"({n}, {t})",
                              actual=f"{getattr(resets, 'shape', type(resets).__name__)}")
    if prev_output_nw is not None:
        check_tensor(prev_output_nw, "prev_output_nw", 4, channels=3)
        display_hw = tuple(prev_output_nw.shape[-2:])
    elif display_hw is None:
        display_hw = display_size_for(model.config, (h, w))
    display_hw = (int(display_hw[0]), int(display_hw[1]))
    e = _exposure_nchw(exposure, n)
    outputs, prev_nw = [], prev_output_nw
    for i in range(t):
        prev_depth = None if (depth is None or i == 0) else depth[:, i - 1]
        prev_nw = upscale_step_nw(model, to_network(colors[:, i], e), motions_px[:, i], prev_nw, jitter_px[:, i],
                                  display_hw, None if depth is None else depth[:, i], prev_depth,
                                  resets[:, i].to(torch.bool))
        outputs.append(prev_nw if return_network_domain else from_network(prev_nw, e))
    return torch.stack(outputs, dim=1)


def upscale_mac_report(config: ModelConfig, display_height: int, display_width: int):
    """MACs of one upscaling frame (:class:`qwplugin.analysis.macs.MacReport`), per display pixel with
    ``per_output_pixel``. Rules of :mod:`qwplugin.analysis.macs`, plus the front end: zero-upsampling is a
    copy (0 MAC), the jitter-aware bilinear fill 4 taps x 3 channels per display pixel; with the render
    extractor, the history's 2x2 area average 4 x 3 per render pixel.

    Raises:
        InvalidArgument: not an upscaling config, or a non-positive size.
    """
    from qwplugin.analysis.macs import MacReport, MacRow, mac_report

    if not config.upscales:
        raise InvalidArgument("not an upscaling config", field="upscale_factor", expected="> 1",
                              actual=str(config.upscale_factor))
    hd, wd = int(display_height), int(display_width)
    h, w = expected_render_size(config, (hd, wd))
    filt = mac_report(filter_config(config), hd, wd)
    rows = [MacRow("fill", "jitter-aware bilinear", "warp + input", hd, wd, 3, 3, 2, 12 * hd * wd, "fp32")]
    filter_stages = ("filter 1x1 (8-bit w)", "filter float ops", "kernel application")
    if config.upscale_extractor == "display":
        rows += list(filt.rows)
    else:
        ext = mac_report(config, h, w, include_warp=False)
        rows.append(MacRow("history_area", "avgpool2x2", "warp + input", ext.padded_height, ext.padded_width, 3, 3,
                           2, 12 * ext.padded_height * ext.padded_width, "fp32"))
        rows += [r for r in filt.rows if r.stage == "warp + input" and r.layer == "warp"]
        rows += [r for r in ext.rows if r.stage not in filter_stages]
        rows += [r for r in filt.rows if r.stage in filter_stages]
    return MacReport(config, hd, wd, filt.padded_height, filt.padded_width, tuple(rows))
