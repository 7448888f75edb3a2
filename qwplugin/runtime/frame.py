"""``Frame``: one frame of inputs to ``Context.dispatch`` (the per-frame input contract).

Modelled on FSR 2's ``FfxFsr2DispatchDescription`` and DLSS's evaluation parameters, so integrators meet
familiar conventions. Arrays are numpy arrays or torch tensors, **top-down** (row 0 is the top of the
image), at render resolution ``(H, W) = (render_size[1], render_size[0])``:

========================  =====================  ==========================================================
field                     shape / type           meaning
========================  =====================  ==========================================================
``color``                 (H, W, 3) or (H, W, 4)  linear HDR RGB (alpha ignored), rendered with this frame's
                          float16/32/64           jitter; values >= 0. NaN/Inf are replaced by 0 (counted
                                                  in ``Context.stats``); finite negative values are refused
``motion_px``             (H, W, 2) float         render pixels, from the current pixel to where it was in
                                                  the previous frame (previous = current + motion), jitter
                                                  removed, +x right, +y down; finite
``jitter_px``             (x, y) floats           this frame's sub-pixel offset of the sample point from the
                                                  pixel centre, render pixels, each in [-0.5, 0.5], same
                                                  axes as motion (see :func:`qwplugin.ops.halton.jitter_offset_px`)
``depth``                 (H, W) or (H, W, 1)     as declared by ``ContextDesc.depth_convention``; required
                          float, optional         only when the model uses depth; no NaN, no negatives
``reset``                 bool                    drop the history first (first frame, camera cut, teleport)
``exposure``              float > 0               pre-exposure multiplier applied before the tonemap
``frame_time_ms``         float >= 0, optional    host frame delta in **milliseconds** (statistics, debug)
========================  =====================  ==========================================================

Every field defaults to ``None`` (or its neutral value) so that a missing required field is reported by
``dispatch`` as :class:`~qwplugin.errors.InvalidArgument` naming it, not as a ``TypeError`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED_FIELDS = ("color", "motion_px", "jitter_px")
"""Fields ``dispatch`` refuses to run without (``depth`` too, when the model uses depth)."""


@dataclass(frozen=True)
class Frame:
    """One frame of inputs (see the module docstring for the full contract table).

    Attributes:
        color: (H, W, 3|4) float linear HDR RGB, top-down, jittered. numpy array or torch tensor.
        motion_px: (H, W, 2) float motion vectors in render pixels, previous = current + motion.
        jitter_px: (x, y) jitter in render pixels, each in [-0.5, 0.5], +x right, +y down.
        depth: (H, W) or (H, W, 1) float depth in the context's declared convention, or None.
        reset: drop the history before this frame.
        exposure: pre-exposure multiplier > 0 (default 1).
        frame_time_ms: the host's frame delta in milliseconds, or None.

    Examples:
        >>> import numpy as np
        >>> f = Frame(color=np.zeros((4, 6, 3), np.float32), motion_px=np.zeros((4, 6, 2), np.float32),
        ...           jitter_px=(0.25, -0.125), reset=True)
        >>> f.exposure
        1.0
    """

    color: Any = None
    motion_px: Any = None
    jitter_px: Any = None
    depth: Any = None
    reset: bool = False
    exposure: float = 1.0
    frame_time_ms: float | None = None
