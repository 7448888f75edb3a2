"""Recurrent reconstruction: warp the previous output into the current frame, run the model, repeat.

History handling (as in the released code, plus a per-pixel rule for disocclusions at the frame edge):

- no history (first frame, ``reset``): the current aliased frame is its own history;
- otherwise the previous output is converted to the network domain, warped with
  :func:`~qwplugin.ops.warp.warp_backward`, and pixels whose motion points outside the previous frame
  (``valid == 0``) take the current aliased frame instead.

The warp runs in the network domain (on tonemapped values), like the model's own inputs. Colour enters
and leaves in linear HDR; the history is passed in linear HDR so a change of exposure between frames is
handled by the colour transform.
"""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.ops._checks import check_same_spatial, check_tensor
from qwplugin.ops.colour import from_network, to_network
from qwplugin.ops.warp import warp_backward, warp_backward_catmull_rom


def warp_history_nw(prev_output_nw: torch.Tensor, motion_px: torch.Tensor, color_nw: torch.Tensor,
                    method: str = "bilinear") -> torch.Tensor:
    """Warped previous output with out-of-frame pixels replaced by ``color_nw`` (all (N, C, H, W)).

    ``method``: ``"bilinear"`` (:func:`~qwplugin.ops.warp.warp_backward`, the released warp) or
    ``"catmull_rom"`` (:func:`~qwplugin.ops.warp.warp_backward_catmull_rom`, deringed);
    a model's choice is ``ModelConfig.history_warp``.
    """
    if method == "catmull_rom":
        warped, valid = warp_backward_catmull_rom(prev_output_nw, motion_px)
    else:
        assert method == "bilinear", method
        warped, valid = warp_backward(prev_output_nw, motion_px)
    return torch.where(valid > 0, warped, color_nw)


def history_warp_of(model: nn.Module) -> str:
    """The model's ``ModelConfig.history_warp`` (``"bilinear"`` for a model without a config)."""
    config = getattr(model, "config", None)
    return getattr(config, "history_warp", "bilinear")


def _exposure_nchw(exposure: float | torch.Tensor, n: int) -> float | torch.Tensor:
    if isinstance(exposure, torch.Tensor):
        if exposure.dim() == 0:
            return exposure
        if exposure.shape != (n,):
            raise InvalidArgument("exposure must be a float, a 0-dim tensor or one value per batch element",
                                  field="exposure", expected=f"shape ({n},)", actual=f"shape {tuple(exposure.shape)}")
        return exposure.view(n, 1, 1, 1)
    return exposure


def _candidate_config(model: nn.Module):
    config = getattr(model, "config", None)
    return None if config is None else getattr(config, "taa_candidate_config", None)


def reconstruct_step(model: nn.Module, color_linear: torch.Tensor, motion_px: torch.Tensor,
                     prev_output_linear: torch.Tensor | None, exposure: float | torch.Tensor = 1.0,
                     depth: torch.Tensor | None = None, jitter_px: tuple[float, float] | None = None,
                     prev_depth: torch.Tensor | None = None) -> torch.Tensor:
    """One frame: (aliased colour, motion, previous output) -> reconstructed colour, linear HDR.

    Args:
        model: a model from :func:`~qwplugin.model.build_model`.
        color_linear: (N, 3, H, W) aliased frame, linear HDR.
        motion_px: (N, 2, H, W) motion in render pixels, previous = current + motion.
        prev_output_linear: (N, 3, H, W) previous output (linear HDR) or None (reset).
        exposure: pre-exposure, float or (N,) tensor.
        depth: (N, 1, H, W) linear view depth (used when the model's config has ``use_depth`` or a TAA
            candidate that dilates or rejects by depth).
        jitter_px: this frame's (x, y) jitter in render pixels, for a model with a TAA candidate
            (``config.taa_candidate``); None means (0, 0). Other models ignore it.
        prev_depth: (N, 1, H, W) the previous frame's depth, for the TAA candidate's depth rejection.

    Returns:
        (N, 3, H, W) linear HDR.

    Raises:
        InvalidArgument: wrong shapes or exposure.
    """
    check_tensor(color_linear, "color_linear", 4, channels=3)
    check_tensor(motion_px, "motion_px", 4, channels=2)
    check_same_spatial(color_linear, motion_px, "color_linear", "motion_px")
    e = _exposure_nchw(exposure, color_linear.shape[0])
    color_nw = to_network(color_linear, e)
    if prev_output_linear is None:
        history_nw = color_nw
    else:
        check_tensor(prev_output_linear, "prev_output_linear", 4, channels=3)
        check_same_spatial(color_linear, prev_output_linear, "color_linear", "prev_output_linear")
        history_nw = warp_history_nw(to_network(prev_output_linear, e), motion_px, color_nw, history_warp_of(model))
    taa = _candidate_config(model)
    if taa is None:
        return from_network(model(color_nw, history_nw, depth), e)
    from qwplugin.model.taa_candidate import taa_candidate_nw

    prev_nw = None if prev_output_linear is None else to_network(prev_output_linear, e)
    candidate = taa_candidate_nw(taa, color_nw, prev_nw, motion_px, jitter_px, depth, prev_depth)
    return from_network(model(color_nw, history_nw, depth, candidate), e)


def run_sequence(model: nn.Module, colors: torch.Tensor, motions_px: torch.Tensor, resets: torch.Tensor,
                 exposure: float | torch.Tensor = 1.0, depth: torch.Tensor | None = None,
                 return_network_domain: bool = False, prev_output_nw: torch.Tensor | None = None,
                 jitter_px: torch.Tensor | None = None, display_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """Run the model recurrently over sequences (differentiable through time, for training).

    An upscaling model (:func:`qwplugin.model.upscale.is_upscaling`) runs
    :func:`qwplugin.model.upscale.run_upscale_sequence` instead (display-resolution history, ``jitter_px``
    (N, T, 2) required, ``display_hw`` the output size). A model with a TAA candidate
    (``config.taa_candidate``) uses ``jitter_px`` (None: zero jitter) and ``depth`` (frame t - 1's depth
    for the candidate's depth rejection); other models ignore ``jitter_px`` and ``display_hw``.

    Without ``prev_output_nw``, frame 0 of every sequence is treated as a reset whatever ``resets[:, 0]``
    says. With it (the output of the frame before frame 0, e.g. the detached last output of the previous
    chunk in truncated backpropagation through time), frame 0 warps it like any other frame and
    ``resets[:, 0]`` decides. The history is kept in the network domain between frames (no round trip
    through linear HDR).

    Args:
        model: a model from :func:`~qwplugin.model.build_model`.
        colors: (N, T, 3, H, W) aliased frames, linear HDR.
        motions_px: (N, T, 2, H, W) motion of frame t relative to frame t - 1 (frame 0's is unused).
        resets: (N, T) bool, True drops the history of that sequence at that frame.
        exposure: float or (N,) tensor, constant over the sequence.
        depth: (N, T, 1, H, W) linear view depth or None.
        return_network_domain: return network-domain outputs (e.g. for a loss on tonemapped values).
        prev_output_nw: (N, 3, H, W) network-domain output preceding frame 0, or None.

    Returns:
        (N, T, 3, H, W) outputs, linear HDR (or network domain).

    Raises:
        InvalidArgument: wrong shapes.
    """
    if getattr(model, "upscaling", False):
        from qwplugin.model.upscale import run_upscale_sequence

        return run_upscale_sequence(model, colors, motions_px, resets, jitter_px, exposure, depth,
                                    return_network_domain, prev_output_nw, display_hw)
    check_tensor(colors, "colors", 5)
    check_tensor(motions_px, "motions_px", 5)
    n, t = colors.shape[:2]
    if colors.shape[2] != 3 or motions_px.shape[:2] != (n, t) or motions_px.shape[2] != 2 \
            or motions_px.shape[3:] != colors.shape[3:]:
        raise InvalidArgument("colors and motions_px must be (N, T, 3, H, W) and (N, T, 2, H, W)",
                              field="motions_px", expected=f"(N, T, 2, H, W) with colors {tuple(colors.shape)}",
                              actual=f"shape {tuple(motions_px.shape)}")
    if not isinstance(resets, torch.Tensor) or resets.shape != (n, t):
        raise InvalidArgument("resets must be an (N, T) bool tensor", field="resets", expected=f"({n}, {t})",
                              actual=f"{getattr(resets, 'shape', type(resets).__name__)}")
    if depth is not None and (depth.dim() != 5 or depth.shape[:3] != (n, t, 1) or depth.shape[3:] != colors.shape[3:]):
        raise InvalidArgument("depth must be (N, T, 1, H, W)", field="depth", expected="(N, T, 1, H, W)",
                              actual=f"shape {tuple(depth.shape)}")
    if prev_output_nw is not None and (prev_output_nw.dim() != 4 or prev_output_nw.shape[:2] != (n, 3)
                                       or prev_output_nw.shape[2:] != colors.shape[3:]):
        raise InvalidArgument("prev_output_nw must be (N, 3, H, W) like one frame of colors", field="prev_output_nw",
                              expected=f"({n}, 3, {colors.shape[3]}, {colors.shape[4]})",
                              actual=f"shape {tuple(prev_output_nw.shape)}")
    e = _exposure_nchw(exposure, n)
    taa = _candidate_config(model)
    if taa is not None:
        from qwplugin.model.taa_candidate import taa_candidate_nw
    outputs = []
    prev_nw = prev_output_nw
    for i in range(t):
        color_nw = to_network(colors[:, i], e)
        if prev_nw is None:
            history_nw = color_nw
        else:
            warped = warp_history_nw(prev_nw, motions_px[:, i], color_nw, history_warp_of(model))
            reset = resets[:, i].to(torch.bool).view(n, 1, 1, 1)
            history_nw = torch.where(reset, color_nw, warped)
        depth_i = None if depth is None else depth[:, i]
        if taa is None:
            prev_nw = model(color_nw, history_nw, depth_i)
        else:
            prev_depth = None if (depth is None or i == 0) else depth[:, i - 1]
            candidate = taa_candidate_nw(taa, color_nw, prev_nw, motions_px[:, i],
                                         None if jitter_px is None else jitter_px[:, i], depth_i, prev_depth,
                                         resets[:, i].to(torch.bool))
            prev_nw = model(color_nw, history_nw, depth_i, candidate)
        outputs.append(prev_nw if return_network_domain else from_network(prev_nw, e))
    return torch.stack(outputs, dim=1)
