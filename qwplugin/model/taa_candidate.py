"""The TAA candidate: a TAA resolve of the model's own previous output, filtered by QW-Net as a third image.

A model whose config sets ``taa_candidate`` (:class:`qwplugin.model.config.ModelConfig`) gets, every frame,
besides the aliased frame and the bilinearly warped history, the output of one :func:`qwplugin.taa.taa_resolve`
step whose history is the model's previous output: jitter-aware Gaussian current estimate, Catmull-Rom
history resampling, closest-depth motion dilation, depth rejection, variance clipping and motion-adaptive
feedback, exactly as the tuned TAA computes them (sharpening is not applied). The network sees it as three
more input channels and its full-resolution kernel filters its 3x3 neighbourhood too, so the network can
start as the TAA (``filter_init="taa"``) and learn where to leave it.

Why: the measured gap between QW-Net and the tuned TAA came from what the network could not know or do
with its inputs (``docs/training.md``, "TAA candidate"): it never saw the jitter (the jitter-aware current
estimate alone is worth 1.9 dB to the TAA on validation), its history is bilinearly resampled
(Catmull-Rom is worth 0.4-1.0 dB) and its feedback cannot depend on the motion length (0.9 dB).

Domains: inputs and output in the network domain (:func:`qwplugin.ops.colour.to_network` with the frame's
exposure folded in); the TAA itself runs on ``from_network`` of them, i.e. on exposed linear HDR, as the
runtime's TAA does on exposed colour. It is differentiable (training backpropagates through it into the
previous output).
"""

from __future__ import annotations

import torch

from qwplugin.ops.colour import from_network, to_network
from qwplugin.taa import TAAConfig, taa_resolve


def taa_candidate_nw(config: TAAConfig, color_nw: torch.Tensor, prev_output_nw: torch.Tensor | None,
                     motion_px: torch.Tensor, jitter_px: torch.Tensor | tuple[float, float] | None,
                     depth: torch.Tensor | None, prev_depth: torch.Tensor | None,
                     reset: torch.Tensor | None = None) -> torch.Tensor:
    """One frame's TAA candidate, network domain.

    Args:
        config: the TAA's parameters (``ModelConfig.taa_candidate_config``).
        color_nw: (N, 3, H, W) aliased frame, network domain.
        prev_output_nw: (N, 3, H, W) the model's previous output, *not* warped (the TAA warps it with the
            dilated motion), network domain; None: every element is a reset.
        motion_px: (N, 2, H, W) contract motion (previous = current + motion, render pixels).
        jitter_px: (N, 2) per-element jitter in render pixels, or one (x, y) for all; None means (0, 0)
            (a model run without jitter information, e.g. an unjittered renderer).
        depth: (N, 1, H, W) linear view depth; needed when ``config.uses_depth``.
        prev_depth: (N, 1, H, W) the previous frame's depth for depth rejection, or None (no rejection).
        reset: (N,) bool, True where that element has no history this frame; None: no element resets.

    Returns:
        (N, 3, H, W) candidate, network domain.

    Raises:
        InvalidArgument: the configuration uses depth and none is given (from :func:`taa_resolve`).
    """
    n = color_nw.shape[0]
    color = from_network(color_nw)
    if isinstance(jitter_px, torch.Tensor):
        assert jitter_px.shape == (n, 2), jitter_px.shape
    elif jitter_px is None:
        jitter_px = (0.0, 0.0)
    else:
        jitter_px = (float(jitter_px[0]), float(jitter_px[1]))
    if prev_output_nw is None:
        return to_network(taa_resolve(color, motion_px, None, config, jitter_px, depth))
    out = taa_resolve(color, motion_px, from_network(prev_output_nw), config, jitter_px, depth, prev_depth)
    if reset is not None and bool(reset.any()):
        current = taa_resolve(color, motion_px, None, config, jitter_px, depth)
        out = torch.where(reset.to(torch.bool).view(n, 1, 1, 1), current, out)
    return to_network(out)


def taau_candidate_nw(config, color_nw: torch.Tensor, prev_output_nw: torch.Tensor | None,
                      motion_px: torch.Tensor, jitter_px: torch.Tensor, display_hw: tuple[int, int],
                      depth: torch.Tensor | None, prev_depth: torch.Tensor | None,
                      reset: torch.Tensor | None = None) -> torch.Tensor:
    """One frame's TAAU candidate for an upscaling model, network domain, display resolution.

    The upscaling form of :func:`taa_candidate_nw`: one :func:`qwplugin.taau.taau_resolve` step (sample-
    position-aware reconstruction kernel, Catmull-Rom history at display resolution, rectification from the
    render-resolution neighbourhood, adaptive feedback; no sharpening) whose history is the model's own
    previous display output. The TAAU's kernel geometry is shared by the whole batch, so elements with
    different jitters are resolved in groups of equal jitter (a training batch mixes phases).

    Args:
        config: the TAAU's parameters (``ModelConfig.taa_candidate_config`` of an upscaling model).
        color_nw: (N, 3, h, w) aliased frame, network domain, render size.
        prev_output_nw: (N, 3, H, W) the model's previous display output, *not* warped, network domain;
            None: every element is a reset.
        motion_px: (N, 2, h, w) contract motion, render pixels.
        jitter_px: (N, 2) per-element jitter in render pixels.
        display_hw: (H, W) of the output.
        depth, prev_depth: (N, 1, h, w) this and the previous frame's depth (``config.uses_depth``), or None.
        reset: (N,) bool, True where that element has no history this frame; None: no element resets.

    Returns:
        (N, 3, H, W) candidate, network domain.
    """
    from qwplugin.taau import taau_resolve

    n = color_nw.shape[0]
    assert isinstance(jitter_px, torch.Tensor) and jitter_px.shape == (n, 2), getattr(jitter_px, "shape", jitter_px)
    size = (int(display_hw[1]), int(display_hw[0]))
    color = from_network(color_nw)
    prev = None if prev_output_nw is None else from_network(prev_output_nw)
    if prev is not None and reset is not None and bool(reset.all()):
        prev = None
    keep = None if (prev is None or reset is None) else ~reset.to(torch.bool)
    out = color.new_empty((n, 3, size[1], size[0]))
    rows = [tuple(float(v) for v in j) for j in jitter_px.detach().cpu().tolist()]
    groups: dict[tuple[float, float], list[int]] = {}
    for i, j in enumerate(rows):
        groups.setdefault(j, []).append(i)

    def part(t, idx):
        return None if t is None else t[idx]

    for jit, members in groups.items():
        idx = torch.tensor(members, device=color.device)
        d, pd = part(depth, idx), part(prev_depth, idx)
        res = taau_resolve(color[idx], motion_px[idx], part(prev, idx), size, config, jit, d, pd)
        if keep is not None and not bool(keep[idx].all()):
            current = taau_resolve(color[idx], motion_px[idx], None, size, config, jit, d, pd)
            res = torch.where(keep[idx].view(-1, 1, 1, 1), res, current)
        out = out.index_copy(0, idx, res)
    return to_network(out)
