"""OpenGL 4.1+ core contexts: a GLFW window, headless EGL, or GLFW's null platform with OSMesa.

Import ``engine_bridge.gl`` (not this module directly) so that ``PYOPENGL_PLATFORM`` is set first; see
:mod:`engine_bridge.gl.platform` for how the backend is chosen. Recipes follow
``shared/reference/environment.md`` section 2 (EGL surfaceless, GLFW null + OSMesa, GLFW X11).

Example:
    >>> from engine_bridge.gl import create_context   # doctest: +SKIP
    >>> ctx = create_context()                        # doctest: +SKIP
    >>> ctx.backend                                   # doctest: +SKIP
    'egl'
"""

from __future__ import annotations

import ctypes

from engine_bridge.gl.platform import BACKENDS, active_pyopengl_platform, selected_backend
from qwplugin.errors import InvalidArgument, UnsupportedHardware

GL_MAJOR, GL_MINOR = 4, 1
_EGL_PLATFORM_DEVICE_EXT = 0x313F
_EGL_PLATFORM_SURFACELESS_MESA = 0x31DD
_EGL_EXTENSIONS = 0x3055
_glfw_users = 0  # live GLFW-backed contexts; glfw.terminate() when the last one closes


class GLContext:
    """A current OpenGL context. Render into your own framebuffer objects (headless contexts have no
    default framebuffer).

    Attributes:
        backend: ``"glfw"``, ``"egl"`` or ``"osmesa"``.
        window: the GLFW window (``glfw`` and ``osmesa`` backends) or None.
        renderer: the ``GL_RENDERER`` string, e.g. ``"llvmpipe (LLVM 15.0.6, 256 bits)"``.
        version: the ``GL_VERSION`` string.
    """

    def __init__(self, backend: str, window=None, egl_display=None, egl_context=None):
        self.backend = backend
        self.window = window
        self._egl_display = egl_display
        self._egl_context = egl_context
        self._closed = False
        self.make_current()
        from OpenGL import GL

        self.renderer = GL.glGetString(GL.GL_RENDERER).decode()
        self.version = GL.glGetString(GL.GL_VERSION).decode()

    def make_current(self) -> None:
        """Make this context current on the calling thread."""
        if self._closed:
            from qwplugin.errors import InvalidOperation

            raise InvalidOperation("make_current() on a closed GLContext")
        if self.window is not None:
            import glfw

            glfw.make_context_current(self.window)
        else:
            from OpenGL import EGL

            EGL.eglMakeCurrent(self._egl_display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, self._egl_context)

    def swap_buffers(self) -> None:
        """Present the window's back buffer (no-op for headless EGL)."""
        if self.window is not None:
            import glfw

            glfw.swap_buffers(self.window)

    def close(self) -> None:
        """Destroy the context (and window). Idempotent."""
        global _glfw_users
        if self._closed:
            return
        self._closed = True
        if self.window is not None:
            import glfw

            glfw.destroy_window(self.window)
            self.window = None
            _glfw_users -= 1
            if _glfw_users == 0:
                glfw.terminate()
        else:
            from OpenGL import EGL

            EGL.eglMakeCurrent(self._egl_display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
            EGL.eglDestroyContext(self._egl_display, self._egl_context)
            # The display is not terminated: Mesa shares it between contexts of this process.

    def __enter__(self) -> GLContext:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GLContext(backend={self.backend!r}, renderer={self.renderer!r}, version={self.version!r})"


def _glfw_window(width: int, height: int, visible: bool, title: str, null_osmesa: bool):
    global _glfw_users
    import glfw

    if null_osmesa:
        glfw.init_hint(glfw.PLATFORM, glfw.PLATFORM_NULL)
    else:
        glfw.init_hint(glfw.PLATFORM, glfw.ANY_PLATFORM)
    if not glfw.init():
        raise RuntimeError(f"glfw.init() failed: {glfw.get_error()}")
    glfw.default_window_hints()
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, GL_MAJOR)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, GL_MINOR)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.VISIBLE, glfw.TRUE if visible else glfw.FALSE)
    if null_osmesa:
        # OSMesa refuses forward-compatible contexts (environment.md): do not set OPENGL_FORWARD_COMPAT.
        glfw.window_hint(glfw.CONTEXT_CREATION_API, glfw.OSMESA_CONTEXT_API)
    elif active_pyopengl_platform() == "egl":
        glfw.window_hint(glfw.CONTEXT_CREATION_API, glfw.EGL_CONTEXT_API)
    window = glfw.create_window(width, height, title, None, None)
    if not window:
        err = glfw.get_error()
        if _glfw_users == 0:
            glfw.terminate()
        raise RuntimeError(f"glfw.create_window failed: {err}")
    _glfw_users += 1
    glfw.make_context_current(window)
    return window


def _egl_client_extensions() -> str:
    from OpenGL import EGL

    ext = EGL.eglQueryString(EGL.EGL_NO_DISPLAY, _EGL_EXTENSIONS)
    return (ext or b"").decode()


def _egl_hardware_display():
    """The first EGL device that is not Mesa's software device (NVIDIA's EGL driver), or None."""
    from OpenGL import EGL
    from OpenGL.EGL.EXT.device_query import eglQueryDeviceStringEXT
    from OpenGL.EGL.EXT.device_enumeration import eglQueryDevicesEXT
    from OpenGL.EGL.EXT.platform_base import eglGetPlatformDisplayEXT

    max_devices = 16
    devices = (EGL.EGLDeviceEXT * max_devices)()
    count = EGL.EGLint()
    if not eglQueryDevicesEXT(max_devices, devices, ctypes.pointer(count)):
        return None
    for i in range(count.value):
        try:
            ext = (eglQueryDeviceStringEXT(devices[i], _EGL_EXTENSIONS) or b"").decode()
        except Exception:  # noqa: BLE001 - a device without a query string is skipped
            continue
        if "EGL_MESA_device_software" in ext:
            continue
        display = eglGetPlatformDisplayEXT(_EGL_PLATFORM_DEVICE_EXT, devices[i], None)
        if display:
            return display
    return None


def _egl_context():
    from OpenGL import EGL
    from OpenGL.EGL.EXT.platform_base import eglGetPlatformDisplayEXT

    client_ext = _egl_client_extensions()
    display = None
    if "EGL_EXT_device_enumeration" in client_ext and "EGL_EXT_platform_device" in client_ext:
        display = _egl_hardware_display()  # untested here (no GPU on the dev machine)
    if display is None:
        if "EGL_MESA_platform_surfaceless" not in client_ext:
            raise RuntimeError("no EGL hardware device and no EGL_MESA_platform_surfaceless")
        display = eglGetPlatformDisplayEXT(_EGL_PLATFORM_SURFACELESS_MESA, None, None)
    major, minor = EGL.EGLint(), EGL.EGLint()
    if not display or not EGL.eglInitialize(display, ctypes.pointer(major), ctypes.pointer(minor)):
        raise RuntimeError("eglInitialize failed")
    attrs = (EGL.EGLint * 5)(EGL.EGL_SURFACE_TYPE, EGL.EGL_PBUFFER_BIT, EGL.EGL_RENDERABLE_TYPE,
                             EGL.EGL_OPENGL_BIT, EGL.EGL_NONE)
    config, n = EGL.EGLConfig(), EGL.EGLint()
    if not EGL.eglChooseConfig(display, attrs, ctypes.pointer(config), 1, ctypes.pointer(n)) or n.value < 1:
        raise RuntimeError("eglChooseConfig found no pbuffer-capable OpenGL config")
    EGL.eglBindAPI(EGL.EGL_OPENGL_API)
    ctx_attrs = (EGL.EGLint * 7)(EGL.EGL_CONTEXT_MAJOR_VERSION, GL_MAJOR, EGL.EGL_CONTEXT_MINOR_VERSION,
                                 GL_MINOR, EGL.EGL_CONTEXT_OPENGL_PROFILE_MASK,
                                 EGL.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL.EGL_NONE)
    context = EGL.eglCreateContext(display, config, EGL.EGL_NO_CONTEXT, ctx_attrs)
    if not context:
        raise RuntimeError(f"eglCreateContext({GL_MAJOR}.{GL_MINOR} core) failed: 0x{EGL.eglGetError():x}")
    return display, context


def _candidates(backend: str) -> list[str]:
    """Backends to try, in order, given the request and the process's PyOpenGL platform."""
    if backend != "auto":
        return [backend]
    first = selected_backend()
    return [first] + [b for b in BACKENDS if b != first]


def _platform_mismatch(backend: str) -> str:
    """Why ``backend`` cannot run under this process's PyOpenGL platform, or "" when it can."""
    platform = active_pyopengl_platform()
    ok = {"egl": ("egl",), "osmesa": ("osmesa",), "glfw": ("glx", "egl", "default")}[backend]
    if platform in ok:
        return ""
    from engine_bridge.gl import platform as platform_module

    hint = (" because OpenGL was imported before engine_bridge.gl; import engine_bridge.gl first"
            if platform_module.OPENGL_IMPORTED_FIRST else "")
    return (f"PyOpenGL platform of this process is {platform!r}{hint} (set QW_GL_BACKEND={backend} before "
            "importing engine_bridge.gl)")


def create_context(backend: str = "auto", width: int = 64, height: int = 64, visible: bool = False,
                   title: str = "qwplugin") -> GLContext:
    """Create an OpenGL 4.1+ core context and make it current.

    Args:
        backend: ``"auto"`` (try the process backend first, then the others that can run under the same
            PyOpenGL platform), ``"glfw"``, ``"egl"`` or ``"osmesa"``.
        width, height: window size in pixels (GLFW/OSMesa; headless EGL has no default framebuffer).
        visible: show the GLFW window.
        title: window title.

    Returns:
        the current :class:`GLContext`.

    Raises:
        InvalidArgument: unknown backend name or non-positive size.
        UnsupportedHardware: no backend worked; the message names every backend tried and why it failed.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise InvalidArgument("unknown OpenGL backend", field="backend",
                              expected="auto | " + " | ".join(BACKENDS), actual=repr(backend))
    if width < 1 or height < 1:
        raise InvalidArgument("window size must be positive", field="width/height", expected=">= 1",
                              actual=f"{width}x{height}")
    failures = []
    for name in _candidates(backend):
        reason = _platform_mismatch(name)
        if reason:
            failures.append(f"{name}: {reason}")
            continue
        try:
            if name == "egl":
                display, context = _egl_context()
                ctx = GLContext("egl", egl_display=display, egl_context=context)
            else:
                window = _glfw_window(width, height, visible, title, null_osmesa=(name == "osmesa"))
                ctx = GLContext(name, window=window)
        except Exception as exc:  # noqa: BLE001 - collected into one UnsupportedHardware below
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        major, minor = _gl_version(ctx)
        if (major, minor) < (GL_MAJOR, GL_MINOR):
            failures.append(f"{name}: got OpenGL {major}.{minor}, need {GL_MAJOR}.{GL_MINOR} core")
            ctx.close()
            continue
        return ctx
    raise UnsupportedHardware("no OpenGL 4.1 core context could be created; tried " + "; ".join(failures))


def _gl_version(ctx: GLContext) -> tuple[int, int]:
    from OpenGL import GL

    return int(GL.glGetIntegerv(GL.GL_MAJOR_VERSION)), int(GL.glGetIntegerv(GL.GL_MINOR_VERSION))
