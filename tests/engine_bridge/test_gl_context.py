"""OpenGL contexts: creation, version, errors naming what was tried, and EGL vs OSMesa rendering the same
image (OSMesa runs in a subprocess: PYOPENGL_PLATFORM is process-global)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)

from qwplugin.errors import InvalidArgument, UnsupportedHardware

pytestmark = pytest.mark.gl
REPO = Path(__file__).resolve().parents[2]

RENDER_SNIPPET = """
import sys, numpy as np
from engine_bridge.gl import create_context
from engine_bridge.raster import Renderer
from engine_bridge.raster.probe_scenes import textured_ground_scene
ctx = create_context()
with Renderer(textured_ground_scene(), 64, 48) as r:
    r.render_gbuffer(0.0, None, (0.25, -0.125))
    a = r.read_gbuffer()
    np.savez(sys.argv[1], color=a.color, motion=a.motion_px, depth=a.depth_view, ref=r.render_reference(0.0, 16),
             backend=ctx.backend)
ctx.close()
"""


def _render_in_subprocess(backend: str, out: Path) -> dict:
    env = dict(os.environ, QW_GL_BACKEND=backend, PYTHONPATH=str(REPO))
    env.pop("PYOPENGL_PLATFORM", None)
    proc = subprocess.run([sys.executable, "-c", RENDER_SNIPPET, str(out)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return dict(np.load(out))


def test_default_context_is_current_core_41():
    from OpenGL import GL

    from engine_bridge.gl import create_context

    with create_context() as ctx:
        assert ctx.backend in ("egl", "osmesa", "glfw")
        major, minor = int(GL.glGetIntegerv(GL.GL_MAJOR_VERSION)), int(GL.glGetIntegerv(GL.GL_MINOR_VERSION))
        assert (major, minor) >= (4, 1)
        assert GL.glGetIntegerv(GL.GL_CONTEXT_PROFILE_MASK) & GL.GL_CONTEXT_CORE_PROFILE_BIT
        assert GL.glGetError() == GL.GL_NO_ERROR


def test_unknown_backend_is_invalid_argument():
    from engine_bridge.gl import create_context

    with pytest.raises(InvalidArgument, match="backend"):
        create_context("vulkan")


def test_unavailable_backend_error_names_what_was_tried():
    import engine_bridge.gl
    from engine_bridge.gl import create_context

    other = "osmesa" if engine_bridge.gl.PLATFORM_BACKEND != "osmesa" else "egl"
    with pytest.raises(UnsupportedHardware) as err:
        create_context(other)
    assert other in str(err.value) and "PyOpenGL platform" in str(err.value)


def test_bad_env_override_is_refused():
    env = dict(os.environ, QW_GL_BACKEND="metal", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", "import engine_bridge.gl"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "QW_GL_BACKEND" in proc.stderr


@pytest.mark.slow
def test_egl_and_osmesa_render_the_same_image(tmp_path):
    egl = _render_in_subprocess("egl", tmp_path / "egl.npz")
    osmesa = _render_in_subprocess("osmesa", tmp_path / "osmesa.npz")
    assert str(egl["backend"]) == "egl" and str(osmesa["backend"]) == "osmesa"
    # Both backends drive the same Mesa llvmpipe rasterizer here, so the images are bit-identical; on a
    # machine where EGL is a GPU driver this would need a tolerance (different rasterizer/precision).
    for key in ("color", "motion", "depth", "ref"):
        np.testing.assert_array_equal(egl[key], osmesa[key], err_msg=key)
    assert egl["color"].std() > 0.05  # a real image, not a cleared target
