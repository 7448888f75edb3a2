"""OpenGL plumbing: context creation (GLFW window, headless EGL, GLFW + OSMesa), shader programs, textures.

Importing this package chooses PyOpenGL's platform **before** OpenGL is imported anywhere: PyOpenGL binds
its function pointers to one platform (GLX/EGL/OSMesa) per process, chosen by ``PYOPENGL_PLATFORM`` at the
first ``import OpenGL``. The choice comes from the ``QW_GL_BACKEND`` environment override (``glfw``,
``egl`` or ``osmesa``) or, without it, auto-detection: ``glfw`` when ``DISPLAY`` or ``WAYLAND_DISPLAY`` is
set, else ``egl`` when libEGL can be loaded, else ``osmesa``. Every module that uses OpenGL imports
``engine_bridge.gl`` first.
"""

from engine_bridge.gl.platform import select_platform

PLATFORM_BACKEND = select_platform()

from engine_bridge.gl.context import GLContext, create_context  # noqa: E402  (platform must be set first)

__all__ = ["GLContext", "PLATFORM_BACKEND", "create_context"]
