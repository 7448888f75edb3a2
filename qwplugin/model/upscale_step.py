"""One frame of the upscaling recurrence: the per-frame step that :func:`run_upscale_sequence` loops over
and :class:`qwplugin.runtime.Context` calls once per ``dispatch``.

The history rules (see :func:`qwplugin.model.upscale.run_upscale_sequence`): without a previous output, or
on a reset element, the history is the filled current frame (:meth:`UpscaleQWNet.current_display`);
otherwise the previous display output warped by the render motion turned into display motion, pixels
warped from outside the frame taking the current frame. A model with a TAAU candidate
(``ModelConfig.taa_candidate``) also gets one :func:`~qwplugin.model.taa_candidate.taau_candidate_nw` step
resolved from its own (unwarped) previous output.
"""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.model.upscale_input import display_motion
from qwplugin.ops._checks import check_tensor
from qwplugin.ops.colour import from_network, to_network


def upscale_step_nw(model: nn.Module, color_nw: torch.Tensor, motion_px: torch.Tensor,
                    prev_output_nw: torch.Tensor | None, jitter_px: torch.Tensor, display_hw: tuple[int, int],
                    depth: torch.Tensor | None = None, prev_depth: torch.Tensor | None = None,
                    reset: torch.Tensor | None = None) -> torch.Tensor:
    """One upscaling frame in the network domain (no checks: the callers validate).

    Args:
        model: an upscaling model (:func:`qwplugin.model.upscale.is_upscaling`).
        color_nw: (N, 3, h, w) aliased frame, network domain, render size.
        motion_px: (N, 2, h, w) contract motion, render pixels.
        prev_output_nw: (N, 3, H, W) previous display output, network domain, not warped; None: a reset.
        jitter_px: (N, 2) this frame's jitter, render pixels.
        display_hw: (H, W) of the output.
        depth: (N, 1, h, w) linear view depth or None.
        prev_depth: (N, 1, h, w) the previous frame's depth (TAAU candidate's depth rejection) or None.
        reset: (N,) bool, True where that element drops its history; None: no element resets.

    Returns:
        (N, 3, H, W) output, network domain.
    """
    from qwplugin.model.recurrent import history_warp_of, warp_history_nw

    n = color_nw.shape[0]
    current = model.current_display(color_nw, jitter_px, display_hw)
    if prev_output_nw is None:
        history_nw = current
    else:
        warped = warp_history_nw(prev_output_nw, display_motion(motion_px, display_hw), current,
                                 history_warp_of(model))
        history_nw = warped if reset is None else torch.where(reset.view(n, 1, 1, 1), current, warped)
    taau = getattr(model.config, "taa_candidate_config", None)
    if taau is None:
        return model(color_nw, history_nw, jitter_px, depth)
    from qwplugin.model.taa_candidate import taau_candidate_nw

    candidate = taau_candidate_nw(taau, color_nw, prev_output_nw, motion_px, jitter_px, display_hw, depth,
                                  prev_depth, reset)
    return model(color_nw, history_nw, jitter_px, depth if model.config.use_depth else None, candidate)


def reconstruct_upscale_step(model: nn.Module, color_linear: torch.Tensor, motion_px: torch.Tensor,
                             prev_output_linear: torch.Tensor | None, display_hw: tuple[int, int],
                             jitter_px: tuple[float, float], exposure: float | torch.Tensor = 1.0,
                             depth: torch.Tensor | None = None,
                             prev_depth: torch.Tensor | None = None) -> torch.Tensor:
    """One upscaling frame, linear HDR in and out (the upscaling form of
    :func:`qwplugin.model.recurrent.reconstruct_step`).

    Args:
        model: an upscaling model.
        color_linear: (N, 3, h, w) aliased frame, linear HDR, render size.
        motion_px: (N, 2, h, w) motion in render pixels, previous = current + motion.
        prev_output_linear: (N, 3, H, W) previous display output (linear HDR) or None (reset).
        display_hw: (H, W) of the output.
        jitter_px: this frame's (x, y) jitter in render pixels.
        exposure: pre-exposure, float or (N,) tensor.
        depth, prev_depth: (N, 1, h, w) this and the previous frame's linear view depth, or None.

    Returns:
        (N, 3, H, W) linear HDR at display size.

    Raises:
        InvalidArgument: wrong shapes or exposure.
    """
    from qwplugin.model.recurrent import _exposure_nchw

    check_tensor(color_linear, "color_linear", 4, channels=3)
    check_tensor(motion_px, "motion_px", 4, channels=2)
    n = color_linear.shape[0]
    e = _exposure_nchw(exposure, n)
    jitter = torch.tensor([[float(jitter_px[0]), float(jitter_px[1])]] * n, dtype=color_linear.dtype,
                          device=color_linear.device)
    prev_nw = None
    if prev_output_linear is not None:
        check_tensor(prev_output_linear, "prev_output_linear", 4, channels=3)
        prev_nw = to_network(prev_output_linear, e)
    out_nw = upscale_step_nw(model, to_network(color_linear, e), motion_px, prev_nw, jitter,
                             (int(display_hw[0]), int(display_hw[1])), depth, prev_depth)
    return from_network(out_nw, e)
