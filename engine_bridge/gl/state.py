"""Being a good guest in the host's GL context: save and restore exactly the state the bridge touches.

The Bridge and its read-back transfer run inside someone else's renderer. They change only the pieces of
GL state listed in :data:`TOUCHED_STATE`, and :class:`GuestState` puts every one of them back on exit
(also when an error is raised half-way):

=====================================  ==============================================================
state                                  why it is touched
=====================================  ==============================================================
``GL_TEXTURE_BINDING_2D``              inspecting textures (size, format) and ``glGetTexImage`` /
(active texture unit only)             ``glTexSubImage2D`` bind the texture on the host's active unit
``GL_PIXEL_PACK_BUFFER_BINDING``       set to 0 so ``glGetTexImage`` writes into client memory (a host
                                       PBO left bound would turn the pointer into a buffer offset)
``GL_PIXEL_UNPACK_BUFFER_BINDING``     the same for ``glTexSubImage2D``
pack / unpack pixel-store parameters   set to tightly packed defaults so a host ``GL_PACK_ROW_LENGTH``
(:data:`PIXEL_STORE_PARAMS`)           cannot make GL write past the bridge's arrays, and a host
                                       ``GL_UNPACK_ROW_LENGTH`` / ``SKIP_ROWS`` cannot scramble uploads
=====================================  ==============================================================

Everything else is never changed: the active texture unit, bindings on other units and other targets,
framebuffers (read and draw), renderbuffer, array / element / uniform buffers, program, vertex array,
viewport, scissor, enables, blend, depth and colour masks, clear values. :func:`host_state_snapshot`
reads all of that (the tests compare it before and after a dispatch).

GL errors the host left pending are not the plugin's: :func:`drain_host_errors` clears them at the
entry of every bridge call and reports them with a :class:`HostGLErrorWarning` naming the errors and
saying the host left them, so PyOpenGL's error checking never blames an unrelated plugin call.

Every call here uses PyOpenGL's *raw* entry points (no automatic ``glGetError`` after each call).
"""

from __future__ import annotations

import ctypes

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL
from OpenGL.error import GLError
from OpenGL.raw.GL.VERSION.GL_1_1 import glBindTexture as _bind_texture
from OpenGL.raw.GL.VERSION.GL_1_1 import glGetBooleanv as _get_booleanv
from OpenGL.raw.GL.VERSION.GL_1_1 import glGetError as _get_error
from OpenGL.raw.GL.VERSION.GL_1_1 import glGetFloatv as _get_floatv
from OpenGL.raw.GL.VERSION.GL_1_1 import glGetIntegerv as _get_integerv
from OpenGL.raw.GL.VERSION.GL_1_1 import glIsEnabled as _is_enabled
from OpenGL.raw.GL.VERSION.GL_1_1 import glPixelStorei as _pixel_storei
from OpenGL.raw.GL.VERSION.GL_1_5 import glBindBuffer as _bind_buffer

from qwplugin.errors import InvalidOperation
from qwplugin.runtime.warn import QWPluginWarning, emit

PIXEL_STORE_PARAMS = {
    # pname: the value the transfers need (GL's defaults, except alignment 1: rows are tightly packed)
    int(GL.GL_PACK_SWAP_BYTES): 0, int(GL.GL_PACK_LSB_FIRST): 0, int(GL.GL_PACK_ROW_LENGTH): 0,
    int(GL.GL_PACK_IMAGE_HEIGHT): 0, int(GL.GL_PACK_SKIP_ROWS): 0, int(GL.GL_PACK_SKIP_PIXELS): 0,
    int(GL.GL_PACK_SKIP_IMAGES): 0, int(GL.GL_PACK_ALIGNMENT): 1,
    int(GL.GL_UNPACK_SWAP_BYTES): 0, int(GL.GL_UNPACK_LSB_FIRST): 0, int(GL.GL_UNPACK_ROW_LENGTH): 0,
    int(GL.GL_UNPACK_IMAGE_HEIGHT): 0, int(GL.GL_UNPACK_SKIP_ROWS): 0, int(GL.GL_UNPACK_SKIP_PIXELS): 0,
    int(GL.GL_UNPACK_SKIP_IMAGES): 0, int(GL.GL_UNPACK_ALIGNMENT): 1,
}
"""Pixel-store parameter -> the value the transfers set while they run (restored afterwards)."""

TOUCHED_STATE = ("GL_TEXTURE_BINDING_2D (active unit)", "GL_PIXEL_PACK_BUFFER_BINDING",
                 "GL_PIXEL_UNPACK_BUFFER_BINDING") + tuple(
    n for n in dir(GL) if n.startswith(("GL_PACK_", "GL_UNPACK_")) and getattr(GL, n) in PIXEL_STORE_PARAMS
    and not n.endswith("_EXT"))
"""Names of every piece of GL state the bridge changes; :class:`GuestState` restores them all."""

GL_ERROR_NAMES = {int(GL.GL_INVALID_ENUM): "GL_INVALID_ENUM", int(GL.GL_INVALID_VALUE): "GL_INVALID_VALUE",
                  int(GL.GL_INVALID_OPERATION): "GL_INVALID_OPERATION",
                  int(GL.GL_INVALID_FRAMEBUFFER_OPERATION): "GL_INVALID_FRAMEBUFFER_OPERATION",
                  int(GL.GL_OUT_OF_MEMORY): "GL_OUT_OF_MEMORY", int(GL.GL_STACK_UNDERFLOW): "GL_STACK_UNDERFLOW",
                  int(GL.GL_STACK_OVERFLOW): "GL_STACK_OVERFLOW"}
_MAX_PENDING_ERRORS = 16  # GL keeps at most one flag per error kind; the loop bound guards a lost context


class HostGLErrorWarning(QWPluginWarning):
    """The host left GL errors pending before a bridge call; the bridge cleared and reported them.

    Attributes:
        errors: the error names, e.g. ``("GL_INVALID_ENUM",)``.
        where: the bridge call that found them.
    """

    def __init__(self, message: str, errors: tuple[str, ...] = (), where: str = ""):
        super().__init__(message)
        self.errors = errors
        self.where = where


def get_int(pname: int) -> int:
    """One integer of ``glGetIntegerv`` (raw call: never raises for a pending error)."""
    value = (ctypes.c_int * 4)()
    _get_integerv(pname, value)
    return int(value[0])


def pending_errors() -> list[str]:
    """Pop every pending GL error flag; their names (``"GL_INVALID_ENUM"``...), oldest first."""
    names = []
    for _ in range(_MAX_PENDING_ERRORS):
        err = int(_get_error())
        if err == GL.GL_NO_ERROR:
            break
        names.append(GL_ERROR_NAMES.get(err, f"0x{err:04x}"))
    return names


def drain_host_errors(where: str) -> list[str]:
    """Clear GL errors the host left pending and warn with :class:`HostGLErrorWarning` if there were any.

    Args:
        where: the bridge call about to run (named in the warning), e.g. ``"Bridge.dispatch"``.

    Returns:
        the error names found (empty when the host's error state was clean).
    """
    names = pending_errors()
    if names:
        emit(HostGLErrorWarning(
            f"the host left GL error(s) {', '.join(names)} pending before {where}: they come from the host's "
            "own earlier GL calls, not from qwplugin; cleared so they are not blamed on the plugin "
            "(check glGetError after your own calls)", tuple(names), where), stacklevel=4)
    return names


def gl_call(what: str, field: str, fn, *args) -> None:
    """Run one of the plugin's own GL calls; a GL error (raised by PyOpenGL or left pending) is typed.

    Raises:
        InvalidOperation: GL reported an error for the call (naming ``what`` and ``field``).
    """
    try:
        fn(*args)
    except GLError as exc:
        name = GL_ERROR_NAMES.get(int(exc.err), f"0x{int(exc.err):04x}") if exc.err else "an error"
        raise InvalidOperation(f"GL reported {name} for {what}" + (f" ({field})" if field else "")) from None
    check_own_errors(what, field)


def check_own_errors(what: str, field: str = "") -> None:
    """Raise :class:`~qwplugin.errors.InvalidOperation` if the plugin's own GL calls raised an error.

    Args:
        what: the GL call(s) just made, for the message.
        field: the input being processed (``"color"``...), for the message.

    Raises:
        InvalidOperation: GL reported an error for ``what`` (the host's errors were drained before).
    """
    names = pending_errors()
    if names:
        where = f" ({field})" if field else ""
        raise InvalidOperation(f"GL reported {', '.join(names)} for {what}{where}")


class GuestState:
    """Context manager: save the state in :data:`TOUCHED_STATE`, set what the transfers need, restore.

    On entry: the active unit's ``GL_TEXTURE_BINDING_2D``, both pixel-buffer bindings and every
    parameter of :data:`PIXEL_STORE_PARAMS` are saved; the pixel buffers are unbound and the pixel-store
    parameters set to tightly packed values. On exit (normal or exceptional) all of them are restored.
    Nesting is allowed (the inner one restores to the outer one's settings).

    Example:
        >>> with GuestState():                     # doctest: +SKIP
        ...     glGetTexImage(...)                  # tightly packed, into client memory
    """

    def __enter__(self) -> GuestState:
        self._texture = get_int(GL.GL_TEXTURE_BINDING_2D)
        self._pack_buffer = get_int(GL.GL_PIXEL_PACK_BUFFER_BINDING)
        self._unpack_buffer = get_int(GL.GL_PIXEL_UNPACK_BUFFER_BINDING)
        self._store = {p: get_int(p) for p in PIXEL_STORE_PARAMS}
        if self._pack_buffer:
            _bind_buffer(GL.GL_PIXEL_PACK_BUFFER, 0)
        if self._unpack_buffer:
            _bind_buffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)
        for pname, value in PIXEL_STORE_PARAMS.items():
            if self._store[pname] != value:
                _pixel_storei(pname, value)
        return self

    def __exit__(self, *exc) -> None:
        for pname, value in self._store.items():
            if value != PIXEL_STORE_PARAMS[pname]:
                _pixel_storei(pname, value)
        _bind_buffer(GL.GL_PIXEL_PACK_BUFFER, self._pack_buffer)
        _bind_buffer(GL.GL_PIXEL_UNPACK_BUFFER, self._unpack_buffer)
        _bind_texture(GL.GL_TEXTURE_2D, self._texture)


# ----------------------------------------------------------------------------------------------------------
# a broad snapshot of host-visible state (tests, debugging an integration)

_INT_STATE = ("GL_ACTIVE_TEXTURE", "GL_TEXTURE_BINDING_2D", "GL_TEXTURE_BINDING_2D_ARRAY",
              "GL_TEXTURE_BINDING_3D", "GL_TEXTURE_BINDING_CUBE_MAP", "GL_TEXTURE_BINDING_2D_MULTISAMPLE",
              "GL_DRAW_FRAMEBUFFER_BINDING", "GL_READ_FRAMEBUFFER_BINDING", "GL_RENDERBUFFER_BINDING",
              "GL_ARRAY_BUFFER_BINDING", "GL_ELEMENT_ARRAY_BUFFER_BINDING", "GL_UNIFORM_BUFFER_BINDING",
              "GL_PIXEL_PACK_BUFFER_BINDING", "GL_PIXEL_UNPACK_BUFFER_BINDING", "GL_CURRENT_PROGRAM",
              "GL_VERTEX_ARRAY_BINDING", "GL_READ_BUFFER", "GL_DRAW_BUFFER0", "GL_DRAW_BUFFER1",
              "GL_BLEND_SRC_RGB", "GL_BLEND_DST_RGB", "GL_BLEND_EQUATION_RGB", "GL_DEPTH_FUNC",
              "GL_CULL_FACE_MODE", "GL_FRONT_FACE", "GL_SAMPLER_BINDING")
_ENABLES = ("GL_BLEND", "GL_DEPTH_TEST", "GL_CULL_FACE", "GL_SCISSOR_TEST", "GL_STENCIL_TEST",
            "GL_FRAMEBUFFER_SRGB", "GL_MULTISAMPLE", "GL_POLYGON_OFFSET_FILL", "GL_PROGRAM_POINT_SIZE")


def host_state_snapshot(units: int = 4) -> dict[str, object]:
    """Read the GL state a host is likely to rely on (bindings, viewport, enables, masks, pixel store).

    Args:
        units: texture units whose 2D bindings are included (the active unit is restored afterwards,
            which is the only state this function changes, and only transiently).

    Returns:
        a dict name -> value (ints, tuples, bools); two snapshots compare with ``==``. The key
        ``"errors"`` lists GL errors that were pending (reading them clears them, as ``glGetError`` does).
    """
    from OpenGL.raw.GL.VERSION.GL_1_3 import glActiveTexture as _active_texture

    snap: dict[str, object] = {n: get_int(getattr(GL, n)) for n in _INT_STATE}
    for pname in PIXEL_STORE_PARAMS:
        snap[f"pixel_store_0x{pname:04x}"] = get_int(pname)
    vec = (ctypes.c_int * 4)()
    for name in ("GL_VIEWPORT", "GL_SCISSOR_BOX"):
        _get_integerv(getattr(GL, name), vec)
        snap[name] = tuple(vec)
    fvec = (ctypes.c_float * 4)()
    for name in ("GL_COLOR_CLEAR_VALUE", "GL_BLEND_COLOR"):
        _get_floatv(getattr(GL, name), fvec)
        snap[name] = tuple(fvec)
    bvec = (ctypes.c_ubyte * 4)()
    _get_booleanv(GL.GL_COLOR_WRITEMASK, bvec)
    snap["GL_COLOR_WRITEMASK"] = tuple(bvec)
    _get_booleanv(GL.GL_DEPTH_WRITEMASK, bvec)
    snap["GL_DEPTH_WRITEMASK"] = bool(bvec[0])
    for name in _ENABLES:
        snap[name] = bool(_is_enabled(getattr(GL, name)))
    active = snap["GL_ACTIVE_TEXTURE"]
    for unit in range(units):
        _active_texture(GL.GL_TEXTURE0 + unit)
        snap[f"unit{unit}_GL_TEXTURE_BINDING_2D"] = get_int(GL.GL_TEXTURE_BINDING_2D)
    _active_texture(active)
    snap["errors"] = tuple(pending_errors())
    return snap
