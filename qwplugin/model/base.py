"""Shared boundary of every reconstruction model: input checks, padding, input assembly, cropping."""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.model.config import ModelConfig
from qwplugin.model.input_unit import assemble_input, prepare_history
from qwplugin.ops._checks import check_same_spatial, check_tensor
from qwplugin.ops.padding import crop_to, pad_to_multiple


class ReconstructionModel(nn.Module):
    """Base class: ``forward(color_nw, history_nw, depth=None, candidate_nw=None) -> output_nw`` for any H, W.

    Subclasses implement ``_forward_padded(net_input, color, history, candidate) -> (output, features)`` on
    inputs padded to ``config.size_multiple`` (``candidate`` None unless ``config.taa_candidate``).

    Attributes:
        config: the :class:`ModelConfig` the model was built from.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    def _check(self, color_nw, history_nw, depth, candidate_nw=None) -> None:
        check_tensor(color_nw, "color_nw", 4, channels=3)
        check_tensor(history_nw, "history_nw", 4, channels=3)
        check_same_spatial(color_nw, history_nw, "color_nw", "history_nw")
        if self.config.taa_candidate is not None:
            if candidate_nw is None:
                raise InvalidArgument("this model filters a TAA candidate (config.taa_candidate) but none was given",
                                      field="candidate_nw", expected="(N, 3, H, W) tensor from "
                                      "qwplugin.model.taa_candidate.taa_candidate_nw", actual="None")
            check_tensor(candidate_nw, "candidate_nw", 4, channels=3)
            check_same_spatial(color_nw, candidate_nw, "color_nw", "candidate_nw")
        if self.config.use_depth:
            if depth is None:
                raise InvalidArgument("this model uses depth (config.use_depth) but none was given",
                                      field="depth", expected="(N, 1, H, W) tensor", actual="None")
            check_tensor(depth, "depth", 4, channels=1)
            check_same_spatial(color_nw, depth, "color_nw", "depth")

    def forward_with_features(self, color_nw: torch.Tensor, history_nw: torch.Tensor,
                              depth: torch.Tensor | None = None,
                              candidate_nw: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One frame step: (output (N, 3, H, W), U-Net features at the padded size, finest first).

        Args:
            color_nw: (N, 3, H, W) aliased frame, network domain (see :func:`qwplugin.ops.colour.to_network`).
            history_nw: (N, 3, H, W) previous output warped to this frame, network domain.
            depth: (N, 1, H, W) linear view depth; required when ``config.use_depth``, else ignored.
            candidate_nw: (N, 3, H, W) TAA candidate, network domain; required when ``config.taa_candidate``,
                else ignored (:func:`qwplugin.model.taa_candidate.taa_candidate_nw`).

        Raises:
            InvalidArgument: wrong shapes or dtypes, or missing depth or candidate.
        """
        self._check(color_nw, history_nw, depth, candidate_nw)
        h, w = color_nw.shape[-2:]
        m = self.config.size_multiple
        history_nw = prepare_history(color_nw, history_nw, self.config)
        color, history = pad_to_multiple(color_nw, m), pad_to_multiple(history_nw, m)
        depth_p = pad_to_multiple(depth, m) if self.config.use_depth else None
        candidate = pad_to_multiple(candidate_nw, m) if self.config.taa_candidate is not None else None
        net_input = assemble_input(color, history, depth_p, self.config.input_processing, self.config.use_depth,
                                   candidate)
        out, features = self._forward_padded(net_input, color, history, candidate)
        return crop_to(out, h, w), features

    def forward(self, color_nw: torch.Tensor, history_nw: torch.Tensor,
                depth: torch.Tensor | None = None, candidate_nw: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructed frame (N, 3, H, W), network domain; see :meth:`forward_with_features`."""
        return self.forward_with_features(color_nw, history_nw, depth, candidate_nw)[0]
