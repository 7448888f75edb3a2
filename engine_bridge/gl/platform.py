"""Choose PyOpenGL's platform (``PYOPENGL_PLATFORM``) before OpenGL is imported.

PyOpenGL resolves GL entry points through exactly one platform per process (GLX, EGL or OSMesa), fixed at
the first ``import OpenGL``. This module maps the engine's context backends onto those platforms:

========== ===================== ==================================================================
backend    PYOPENGL_PLATFORM     context
========== ===================== ==================================================================
glfw       ``glx`` (X11),        a GLFW window (X11/GLX; Wayland or a forced EGL platform: GLFW's
           ``egl`` (Wayland)     EGL context API)
egl        ``egl``               headless EGL: the EGL device platform on a hardware device (NVIDIA),
                                 else Mesa's surfaceless platform
osmesa     ``osmesa``            GLFW's null platform with an OSMesa context (software)
========== ===================== ==================================================================

Override with ``QW_GL_BACKEND`` (``glfw`` | ``egl`` | ``osmesa``). Auto: ``glfw`` when ``DISPLAY`` or
``WAYLAND_DISPLAY`` is set; else ``egl`` when libEGL loads and offers a headless platform; else ``osmesa``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from qwplugin.errors import InvalidArgument

BACKENDS = ("glfw", "egl", "osmesa")
ENV_OVERRIDE = "QW_GL_BACKEND"
_selected: str | None = None
OPENGL_IMPORTED_FIRST = False  # set when OpenGL was imported before engine_bridge.gl


def egl_headless_available() -> tuple[bool, str]:
    """Whether libEGL loads and advertises a headless platform (Mesa surfaceless or EGL devices).

    Returns:
        ``(ok, reason)``: ``reason`` says what is missing when ``ok`` is False.
    """
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        return False, f"libEGL not loadable ({exc})"
    lib.eglQueryString.restype = ctypes.c_char_p
    lib.eglQueryString.argtypes = [ctypes.c_void_p, ctypes.c_int]
    egl_extensions = 0x3055
    ext = lib.eglQueryString(None, egl_extensions)  # EGL_NO_DISPLAY: client extensions
    ext = (ext or b"").decode()
    if "EGL_MESA_platform_surfaceless" in ext or "EGL_EXT_platform_device" in ext:
        return True, ""
    return False, f"libEGL offers neither EGL_MESA_platform_surfaceless nor EGL_EXT_platform_device ({ext!r})"


def auto_backend() -> str:
    """The backend auto-detection picks on this machine (see the module docstring)."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return "glfw"
    if egl_headless_available()[0]:
        return "egl"
    return "osmesa"


def pyopengl_platform_for(backend: str) -> str | None:
    """The ``PYOPENGL_PLATFORM`` value a backend needs (None: leave PyOpenGL's default)."""
    if backend == "glfw":
        if sys.platform.startswith("linux"):
            return "egl" if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY") else "glx"
        return None
    return backend


def select_platform() -> str:
    """Pick the process backend and set ``PYOPENGL_PLATFORM`` accordingly (once, before ``import OpenGL``).

    An explicit ``PYOPENGL_PLATFORM`` already in the environment is kept (the backend follows it).

    Returns:
        the backend name (``glfw``, ``egl`` or ``osmesa``) this process's PyOpenGL platform serves.

    Raises:
        InvalidArgument: ``QW_GL_BACKEND`` names an unknown backend.
    """
    override = os.environ.get(ENV_OVERRIDE, "").strip().lower()
    if override and override not in BACKENDS:
        raise InvalidArgument(f"{ENV_OVERRIDE} names an unknown OpenGL backend", field=ENV_OVERRIDE,
                              expected=" | ".join(BACKENDS), actual=repr(override))
    current = os.environ.get("PYOPENGL_PLATFORM", "").strip().lower()
    global _selected
    if current and not override:
        _selected = {"egl": "egl", "osmesa": "osmesa"}.get(current, "glfw")
        return _selected
    backend = override or auto_backend()
    platform = pyopengl_platform_for(backend)
    if "OpenGL" in sys.modules:
        global OPENGL_IMPORTED_FIRST
        OPENGL_IMPORTED_FIRST = True  # too late to choose: PyOpenGL already picked its platform
    elif platform is not None:
        os.environ["PYOPENGL_PLATFORM"] = platform
    _selected = backend
    return backend


def selected_backend() -> str:
    """The backend :func:`select_platform` chose for this process (auto-detected if it never ran)."""
    return _selected or auto_backend()


def active_pyopengl_platform() -> str:
    """The PyOpenGL platform in effect for this process (``egl``, ``osmesa``, ``glx``, ...)."""
    return os.environ.get("PYOPENGL_PLATFORM", "").strip().lower() or "default"
