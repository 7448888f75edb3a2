"""Recurrent unrolling for training: run a model over T frames, feeding its warped output back.

Each block goes through :func:`qwplugin.model.recurrent.run_sequence`, the model area's recurrence (warp
of the previous output by the motion vectors, out-of-frame pixels and resets take the current frame),
so training sees the inference-time recurrence. Gradients flow through all T frames of a block; truncated
backpropagation through time hands the detached last output of one block to the next as ``prev_nw``.
"""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.model.recurrent import run_sequence


class SequenceRunner(nn.Module):
    """Wraps a model so that one ``forward`` runs a whole block (one DDP forward per step).

    Args:
        model: a reconstruction model (``forward(color_nw, history_nw, depth=None)``).

    Shape:
        ``forward(color (N, T, 3, H, W) linear, motion_px (N, T, 2, H, W), resets (N, T) bool,
        depth (N, T, 1, H, W) | None, prev_nw (N, 3, H, W) | None) -> (N, T, 3, H, W)`` in the network
        (tonemapped) domain; ``prev_nw`` is the network-domain output before frame 0 (None: frame 0 is a
        reset). An upscaling model also takes ``jitter_px`` (N, T, 2) and ``display_hw`` (its output size;
        default from the scale) and returns (N, T, 3, H_display, W_display); a model with a TAA candidate
        (``config.taa_candidate``) takes ``jitter_px`` and the depth too; other native models ignore both.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, color: torch.Tensor, motion_px: torch.Tensor, resets: torch.Tensor,
                depth: torch.Tensor | None = None, prev_nw: torch.Tensor | None = None,
                jitter_px: torch.Tensor | None = None, display_hw: tuple[int, int] | None = None) -> torch.Tensor:
        config = self.model.config
        candidate = getattr(config, "taa_candidate", None) is not None
        use_depth = bool(getattr(config, "reads_depth", getattr(config, "use_depth", False)))
        if getattr(self.model, "upscaling", False):  # display-resolution recurrence, needs each frame's jitter
            return run_sequence(self.model, color, motion_px, resets, depth=depth if use_depth else None,
                                return_network_domain=True, prev_output_nw=prev_nw, jitter_px=jitter_px,
                                display_hw=display_hw)
        return run_sequence(self.model, color, motion_px, resets, depth=depth if use_depth else None,
                            return_network_domain=True, prev_output_nw=prev_nw,
                            jitter_px=jitter_px if candidate else None)
