"""``Frame``: one frame of inputs, the one per-frame contract of every layer.

Modelled on FSR 2's ``FfxFsr2DispatchDescription`` and DLSS's evaluation parameters, so integrators meet
familiar conventions. The same dataclass travels through every layer; only what the three *image* fields
(``color``, ``motion_px``, ``depth``) hold depends on the layer:

=====================================================  ==================================================
layer                                                  image fields hold
=====================================================  ==================================================
:class:`~qwplugin.runtime.Context` (and every array    numpy arrays or torch tensors, **top-down** (row 0
reconstructor of :mod:`qwplugin.runtime.registry`,     is the top of the image), at render resolution
the evaluation)                                        ``(H, W) = (render_size[1], render_size[0])``
``engine_bridge.Bridge`` and the GL passes             GL texture names (``int``) of ``GL_TEXTURE_2D``
(``engine_bridge.passes``)                             textures of the render size (bottom-up, as GL
                                                       stores them; the bridge flips exactly once)
=====================================================  ==================================================

The scalar fields mean the same everywhere:

=========================  ======================  ========================================================
field                      shape / type            meaning
=========================  ======================  ========================================================
``color``                  (H, W, 3) or (H, W, 4)  linear HDR RGB (alpha ignored), rendered with this
                           float16/32/64           frame's jitter; values >= 0. NaN/Inf are replaced by 0
                                                   (counted in ``Context.stats``); finite negative values
                                                   are refused
``motion_px``              (H, W, 2) float         ``motion_vector_scale * motion_px`` is the motion in
                                                   render pixels, from the current pixel to where it was in
                                                   the previous frame (previous = current + motion), jitter
                                                   removed, +x right, +y down; finite
``jitter_px``              (x, y) floats           this frame's sub-pixel offset of the sample point from
                                                   the pixel centre, render pixels, each in [-0.5, 0.5],
                                                   same axes as motion (see
                                                   :func:`qwplugin.ops.halton.jitter_offset_px`)
``depth``                  (H, W) or (H, W, 1)     as declared by ``ContextDesc.depth_convention``;
                           float, optional         required only when the method uses depth
                                                   (``info.uses_depth``); no NaN, no negatives
``reset``                  bool                    drop the history first (first frame, camera cut)
``exposure``               float > 0               pre-exposure multiplier applied before the tonemap
``frame_time_ms``          float >= 0, optional    host frame delta in **milliseconds** (statistics, debug)
``motion_vector_scale``    (sx, sy), optional      per-axis factor from the motion values to render pixels
                                                   (FSR 2's ``motionVectorScale``): None means (1, 1) for
                                                   arrays and the bridge's default for textures; GL
                                                   UV-space motion (+y up) is ``(W, -H)``
``frame_index``            int >= 0, optional      the host's running frame counter (statistics, debugging)
=========================  ======================  ========================================================

Every field defaults to ``None`` (or its neutral value) so that a missing required field is reported by
the receiving ``dispatch`` as :class:`~qwplugin.errors.InvalidArgument` naming it, not as a ``TypeError``
here. Constructing a ``Frame`` checks nothing: the one checking module is
:mod:`qwplugin.runtime.validate`, called once at the public boundary that receives the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED_FIELDS = ("color", "motion_px", "jitter_px")
"""Fields ``dispatch`` refuses to run without (``depth`` too, when the method uses depth)."""

IMAGE_FIELDS = ("color", "motion_px", "depth")
"""The fields that hold images (arrays, or GL texture names in the GL layer); also the GL passes' port
names (:data:`engine_bridge.passes.base.RenderPass.INPUT_COLOR` ...)."""


@dataclass(frozen=True)
class Frame:
    """One frame of inputs (see the module docstring for the full contract table).

    Attributes:
        color: (H, W, 3|4) float linear HDR RGB, top-down, jittered (numpy array or torch tensor), or a
            GL texture name in the GL layer.
        motion_px: (H, W, 2) float motion vectors (times ``motion_vector_scale``: render pixels, previous =
            current + motion), or a GL texture name.
        jitter_px: (x, y) jitter in render pixels, each in [-0.5, 0.5], +x right, +y down.
        depth: (H, W) or (H, W, 1) float depth in the declared convention, a GL texture name, or None.
        reset: drop the history before this frame.
        exposure: pre-exposure multiplier > 0 (default 1).
        frame_time_ms: the host's frame delta in milliseconds, or None.
        motion_vector_scale: (sx, sy) factor from the motion values to render pixels, or None (see the
            module docstring).
        frame_index: the host's frame counter, or None.

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
    motion_vector_scale: Any = None
    frame_index: int | None = None
