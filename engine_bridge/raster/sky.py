"""Motion of the background (directions at infinity) under camera rotation: the homography the G-buffer's
background pass applies (``shaders/gbuffer.sky.frag.glsl``). No GL here.

A background pixel shows a direction, not a point: camera translation does not move it, rotation and a
change of projection (zoom) do. With ``R`` the view matrix with its translation removed, the previous clip
position of the direction seen at unjittered NDC ``(x, y)`` is ``P_prev R_prev R_cur^-1 P_cur^-1 (x, y, z,
1)`` for any NDC depth ``z`` (every point of the ray maps to the same previous NDC because ``R`` holds no
translation); taking ``z = 0`` and keeping the x, y and w rows gives a 3x3 homography of ``(x, y, 1)``.
"""

from __future__ import annotations

import numpy as np

from qwplugin.errors import InvalidArgument

IDENTITY_ATOL = 1e-9
"""A reprojection within this of the identity (after normalising its w) is snapped to it, so a static or
only translating camera gets background motion exactly 0 (1e-9 NDC is 2e-6 px at 4K, far below the
half-float step of the motion target)."""

_XYW = [0, 1, 3]


def _rotation_only(view: np.ndarray) -> np.ndarray:
    r = np.eye(4)
    r[:3, :3] = view[:3, :3]
    return r


def sky_reprojection(view: np.ndarray, projection: np.ndarray, prev_view: np.ndarray,
                     prev_projection: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking a background pixel's current unjittered NDC ``(x, y, 1)`` to the previous
    frame's clip ``(x', y', w')`` of the same view direction (translation ignored); previous NDC is
    ``(x'/w', y'/w')``, and ``w' <= 0`` means the direction was behind the previous camera.

    Args:
        view, projection: current world->view and UNJITTERED projection, (4, 4), column-vector convention.
        prev_view, prev_projection: the same for the previous frame.

    Returns:
        (3, 3) float64; exactly the identity when the rotation and projection did not change (within
        :data:`IDENTITY_ATOL`).

    Raises:
        InvalidArgument: a matrix that is not 4x4 or not invertible.

    Examples:
        >>> import numpy as np
        >>> from engine_bridge.scene import transforms
        >>> p = transforms.perspective(60.0, 1.5, 0.1, 100.0)
        >>> v0 = transforms.look_at((0, 1, 2), (0, 1, -4))
        >>> v1 = transforms.look_at((5, 1, 2), (5, 1, -4))          # pure translation
        >>> bool((sky_reprojection(v1, p, v0, p) == np.eye(3)).all())
        True
    """
    mats = []
    for name, m in (("view", view), ("projection", projection), ("prev_view", prev_view),
                    ("prev_projection", prev_projection)):
        m = np.asarray(m, np.float64)
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise InvalidArgument(f"{name} must be a finite 4x4 matrix", field=name, expected="(4, 4) finite",
                                  actual=str(m.shape))
        mats.append(m)
    view, projection, prev_view, prev_projection = mats
    try:
        unproject = np.linalg.inv(projection @ _rotation_only(view))
    except np.linalg.LinAlgError as exc:
        raise InvalidArgument("current view-projection is singular", field="view/projection",
                              expected="an invertible matrix", actual="singular") from exc
    m4 = prev_projection @ _rotation_only(prev_view) @ unproject
    h = m4[np.ix_(_XYW, _XYW)]
    if h[2, 2] > 0 and np.abs(h / h[2, 2] - np.eye(3)).max() <= IDENTITY_ATOL:
        return np.eye(3)
    return h
