"""4x4 matrix helpers in OpenGL conventions (right-handed world, camera looks down -Z in view space,
clip space to NDC in [-1, 1]^3, NDC +y up). Matrices are float64 numpy arrays acting on column vectors
(``p_clip = P @ V @ M @ p_object``); upload them transposed (or with ``transpose=GL_TRUE``).
"""

from __future__ import annotations

import math

import numpy as np


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection (NDC depth in [-1, 1]). ``aspect`` = width / height."""
    assert 0 < fov_y_deg < 180 and aspect > 0 and 0 < near < far
    f = 1.0 / math.tan(math.radians(fov_y_deg) / 2.0)
    m = np.zeros((4, 4))
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """World-to-view matrix of a camera at ``eye`` looking at ``target``."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target - eye
    assert np.linalg.norm(forward) > 0, "camera eye and target coincide"
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:  # looking straight along up: pick another up
        right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = right, true_up, -forward
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def translation(t) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = t
    return m


def scaling(s) -> np.ndarray:
    return np.diag([*np.broadcast_to(np.asarray(s, dtype=np.float64), (3,)), 1.0])


def rotation_euler_deg(angles_deg) -> np.ndarray:
    """Rotation about X, then Y, then Z (``Rz @ Ry @ Rx``), angles in degrees."""
    ax, ay, az = (math.radians(a) for a in angles_deg)
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3] = rz @ ry @ rx
    return m


def trs(translation_xyz, rotation_deg, scale_xyz) -> np.ndarray:
    """Model matrix = T @ R @ S."""
    return translation(translation_xyz) @ rotation_euler_deg(rotation_deg) @ scaling(scale_xyz)
