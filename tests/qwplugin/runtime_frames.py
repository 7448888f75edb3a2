"""Synthetic frame streams shared by the runtime tests (small sizes, deterministic).

A smooth periodic texture pans right by ``speed_px`` pixels per frame; every frame is rendered with the
Halton jitter at pixel centres + jitter, and its motion is the contract's ``-speed_px`` in x (the pixel
showed the same content ``speed_px`` further left in the previous frame).
"""

from __future__ import annotations

import numpy as np
import torch

from qwplugin import Frame
from qwplugin.ops.halton import jitter_offset_px

H, W = 12, 16
SIZE = (W, H)


def texture(x: np.ndarray, y: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """(…) positions in pixels -> (…, 3) linear HDR colour in [0.05, 2.05]."""
    r = 1.0 + np.sin(0.9 * x + phase) * np.cos(0.7 * y)
    g = 1.0 + np.cos(0.5 * x - 0.3 * y + phase)
    b = 1.0 + np.sin(0.4 * (x + y) + 2.0 * phase)
    return np.stack([r, g, b], axis=-1).astype(np.float32) + 0.05


def pan_frame(t: int, speed_px: float = 1.0, phase: float = 0.0, reset: bool | None = None,
              h: int = H, w: int = W, **overrides) -> Frame:
    """Frame ``t`` of the pan (reset on t == 0 unless given)."""
    jx, jy = jitter_offset_px(t)
    ys, xs = np.meshgrid(np.arange(h) + 0.5 + jy, np.arange(w) + 0.5 + jx, indexing="ij")
    color = texture(xs - t * speed_px, ys, phase)
    motion = np.zeros((h, w, 2), np.float32)
    motion[..., 0] = -speed_px
    fields = dict(color=color, motion_px=motion, jitter_px=(jx, jy), reset=(t == 0) if reset is None else reset,
                  frame_time_ms=16.7)
    fields.update(overrides)
    return Frame(**fields)


def replace_frame(frame: Frame, **changes) -> Frame:
    from dataclasses import replace

    return replace(frame, **changes)


class AverageModel(torch.nn.Module):
    """Test double: output = (color + history) / 2 in the network domain (no config, no quantizers)."""

    def forward(self, color_nw, history_nw, depth=None):
        return 0.5 * (color_nw + history_nw)


class DepthRecorder(torch.nn.Module):
    """Test double that returns its colour input and records the depth tensor it was given."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.seen_depth = None

    def forward(self, color_nw, history_nw, depth=None):
        self.seen_depth = depth
        return color_nw


class CurrentFrameModel(torch.nn.Module):
    """Test double: output = the current frame, so the history is exactly the previous input frame."""

    def forward(self, color_nw, history_nw, depth=None):
        return color_nw
