"""The render-pass protocol: small objects with named GL texture inputs and outputs.

The TAA, no-AA and QW-Net passes share this protocol, so a renderer toggles anti-aliasing by swapping pass
objects (no ``if`` on the mode inside the renderer). Modelled on Falcor's ``RenderPass`` (``reflect()``
ports, ``Properties`` that round-trip). A pass is also a reconstructor
(:class:`qwplugin.runtime.reconstructor.Reconstructor`: ``dispatch``, ``reset``, ``resize``, ``close``,
``info``) on GL textures, built by name with :func:`engine_bridge.passes.make_pass` (the registry
:mod:`qwplugin.runtime.registry`, target ``"gl"``).

Per-frame values travel as the one contract, :class:`qwplugin.runtime.frame.Frame`; its image fields
(``color``, ``motion_px``, ``depth``) are also the input port names, so ``dispatch(frame)`` takes the
textures from the frame while ``execute(inputs, frame)`` takes them by port name.

:class:`RenderPass` is a template: its public verbs do the shared preamble once (closed check, the frame's
values checked once with :func:`qwplugin.runtime.validate.check_values`, every input checked against the
ports and the size) and then call the subclass hooks ``_execute``, ``_reset``, ``_resize`` and ``_close``.

A pass needs a current OpenGL 4.1+ core context for its whole life (creation, ``execute``, ``resize``,
``close``); it never creates one. Textures are GL texture names (``int``); images in them follow GL's
bottom-up row order, while every coordinate convention in the data (motion, jitter) is the project's
top-down contract.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.reconstructor import MethodInfo
from qwplugin.runtime.validate import FrameValues, check_values


@dataclass(frozen=True)
class Port:
    """One named input or output of a pass.

    Attributes:
        name: the key used in ``execute``'s input mapping and returned output mapping.
        description: meaning, units and conventions.
        format: the GL internal format expected or produced, as text (e.g. ``"RGBA16F"``).
        optional: an input the pass can run without.
    """

    name: str
    description: str
    format: str
    optional: bool = False


class _PassFrameType(type):
    """``PassFrame(...)`` builds a :class:`~qwplugin.runtime.frame.Frame`; every Frame is a PassFrame."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Frame)

    def __call__(cls, jitter_px=(0.0, 0.0), reset=False, exposure=1.0, frame_index=0, frame_time_ms=None):
        return Frame(jitter_px=jitter_px, reset=reset, exposure=exposure, frame_index=frame_index,
                     frame_time_ms=frame_time_ms)


class PassFrame(metaclass=_PassFrameType):
    """The former per-pass frame type, kept as a spelling of :class:`~qwplugin.runtime.frame.Frame`.

    ``PassFrame(jitter_px=(0, 0), reset=False, exposure=1.0, frame_index=0, frame_time_ms=None)`` (positional
    order as before) returns a ``Frame`` with those values and no images; ``isinstance(frame, PassFrame)``
    holds for every ``Frame``. Nothing is checked here: the pass checks the values once when it runs.
    """


class RenderPass(abc.ABC):
    """Base class of GL passes: the shared preamble once, subclass hooks for the GL work.

    Subclasses define ``name`` (the pass type, used in messages), ``label`` and ``family`` (for
    :attr:`info`), the ports, the properties and the hooks ``_execute(inputs, frame, values)``,
    ``_resize(width, height)``, ``_close()`` and, when they keep history, ``_reset()``. They call
    ``super().__init__(width, height, name=..., label=...)`` first.

    Lifecycle: construct (allocates GL objects for ``width`` x ``height``) -> ``execute``/``dispatch`` per
    frame -> ``resize`` on a size change (drops history) -> ``close``.
    """

    name: str = ""
    label: str = ""
    family: str = "taa"
    INPUT_COLOR = "color"
    INPUT_MOTION = "motion_px"
    INPUT_DEPTH = "depth"
    OUTPUT_COLOR = "color"
    """Port names: the input ports are the :class:`~qwplugin.runtime.frame.Frame` image fields."""

    def __init__(self, width: int, height: int, *, name: str | None = None, label: str | None = None):
        check_size(width, height)
        self._size = (width, height)
        self._closed = False
        self._method_name = name
        self._method_label = label

    # ------------------------------------------------------------------------------------------------------
    # ports and properties

    @abc.abstractmethod
    def inputs(self) -> dict[str, Port]:
        """The input ports by name."""

    @abc.abstractmethod
    def outputs(self) -> dict[str, Port]:
        """The output ports by name."""

    @abc.abstractmethod
    def get_properties(self) -> dict:
        """The pass's settings as a JSON-able dict (not its size), round-tripping through from_properties."""

    @classmethod
    @abc.abstractmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> RenderPass:
        """Build a pass from :meth:`get_properties` output. Raises InvalidArgument on unknown keys."""

    @property
    def size(self) -> tuple[int, int]:
        """Render size (width, height) in pixels."""
        return self._size

    @property
    def info(self) -> MethodInfo:
        """What runs (:class:`~qwplugin.runtime.reconstructor.MethodInfo`): by default a GLSL pass on the
        current GL renderer."""
        from OpenGL import GL

        renderer = GL.glGetString(GL.GL_RENDERER)
        renderer = renderer.decode() if isinstance(renderer, bytes) else str(renderer)
        return MethodInfo(name=self._info_name(), label=self._info_label(), description=f"GLSL on {renderer}",
                          uses_depth=self.INPUT_DEPTH in self.inputs() and not self.inputs()[self.INPUT_DEPTH].optional,
                          uses_jitter=True, family=self.family)

    def _info_name(self) -> str:
        return getattr(self, "_method_name", None) or self.name

    def _info_label(self) -> str:
        return getattr(self, "_method_label", None) or self.label or self._info_name()

    def timings_ms(self) -> dict:
        """Median milliseconds of the pass's own stages, by group (empty for passes that do not time
        themselves)."""
        return {}

    # ------------------------------------------------------------------------------------------------------
    # the verbs (template methods)

    def execute(self, inputs: Mapping[str, int], frame: Frame) -> dict[str, int]:
        """Run the pass on GL textures ``inputs`` (port name -> texture name) with ``frame``'s values.

        Args:
            inputs: port name -> GL texture name (see :meth:`inputs`).
            frame: a :class:`~qwplugin.runtime.frame.Frame`; its values (jitter, reset, exposure, ...) are
                used, its image fields are not (see :meth:`dispatch`).

        Returns:
            output port name -> texture name, owned by the pass and valid until the next ``execute``,
            ``resize`` or ``close``.

        Raises:
            InvalidArgument: a bad frame value, or a required input missing or of the wrong size.
            InvalidOperation: the pass was closed.
        """
        self._require_open("execute")
        values = check_values(frame, f"{type(self).__name__}.execute")
        check_inputs(self, inputs, self._size)
        return self._execute(inputs, frame, values)

    def dispatch(self, frame: Frame) -> int:
        """The reconstructor verb: run on the textures the frame names (``frame.color``, ``frame.motion_px``,
        ``frame.depth`` as GL texture names) and return the output colour texture.

        Raises:
            InvalidArgument, InvalidOperation: as :meth:`execute`.
        """
        self._require_open("dispatch")
        if not isinstance(frame, Frame):
            check_values(frame, f"{type(self).__name__}.dispatch")  # raises, naming the field "frame"
        textures = {port: getattr(frame, port) for port in self.inputs() if getattr(frame, port, None) is not None}
        return self.execute(textures, frame)[self.OUTPUT_COLOR]

    def reset(self) -> None:
        """Drop temporal history; the next frame is a first frame.

        Raises:
            InvalidOperation: the pass was closed.
        """
        self._require_open("reset")
        self._reset()

    def resize(self, render_size, display_size=None) -> None:
        """Reallocate for a new render size; drops history.

        Args:
            render_size: ``(width, height)`` in pixels (the older ``resize(width, height)`` also works).
            display_size: must be None or equal to the render size (these passes do not upscale).

        Raises:
            InvalidArgument: bad size.
            InvalidOperation: the pass was closed.
        """
        if isinstance(render_size, int) and not isinstance(render_size, bool) and isinstance(display_size, int):
            width, height = render_size, display_size  # the older resize(width, height)
        else:
            try:
                width, height = render_size
            except (TypeError, ValueError):
                raise InvalidArgument("render_size must be (width, height)", field="render_size",
                                      expected="(width, height)", actual=repr(render_size)) from None
            if display_size is not None and tuple(display_size) != (width, height):
                raise InvalidArgument(f"{self.name}: this pass does not upscale", field="display_size",
                                      expected=f"None or {(width, height)}", actual=repr(display_size))
        check_size(width, height)
        self._require_open("resize")
        self._resize(width, height)
        self._size = (width, height)

    def close(self) -> None:
        """Release the pass's GL objects (needs the context current). Idempotent."""
        if getattr(self, "_closed", False):
            return
        self._close()
        self._closed = True

    def __enter__(self) -> RenderPass:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------------
    # hooks

    def _execute(self, inputs: Mapping[str, int], frame: Frame, values: FrameValues) -> dict[str, int]:
        """The GL work on checked inputs and values (``values`` normalised by
        :func:`~qwplugin.runtime.validate.check_values`)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _execute nor execute")

    def _reset(self) -> None:
        """Drop history (no-op for stateless passes)."""

    def _resize(self, width: int, height: int) -> None:
        """Reallocate the per-size GL objects (the size is checked and stored by :meth:`resize`)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _resize nor resize")

    def _close(self) -> None:
        """Release the GL objects."""

    def _require_open(self, verb: str) -> None:
        if getattr(self, "_closed", False):
            raise InvalidOperation(f"{type(self).__name__}.{verb} called after close()")


def check_size(width: int, height: int) -> None:
    """Raise InvalidArgument unless ``width`` and ``height`` are positive ints."""
    if not (isinstance(width, int) and isinstance(height, int) and not isinstance(width, bool)
            and not isinstance(height, bool) and width >= 1 and height >= 1):
        raise InvalidArgument("pass size must be positive integers", field="width/height", expected=">= 1",
                              actual=f"{width!r}x{height!r}")


def check_inputs(pass_: RenderPass, inputs: Mapping[str, int], size: tuple[int, int]) -> None:
    """Check that every required input port is present and each given texture is ``size`` (w, h).

    Raises:
        InvalidArgument: naming the port, with expected and actual values.
    """
    from engine_bridge.gl.textures import texture_size

    if not isinstance(inputs, Mapping):
        raise InvalidArgument(f"{pass_.name}: inputs must map port names to texture names", field="inputs",
                              expected="a mapping port -> GL texture name", actual=type(inputs).__name__)
    for port in pass_.inputs().values():
        if port.name not in inputs:
            if port.optional:
                continue
            raise InvalidArgument(f"{pass_.name}: missing input", field=port.name, expected=port.description,
                                  actual="nothing")
        tex = inputs[port.name]
        if not isinstance(tex, int) or isinstance(tex, bool) or tex <= 0:
            raise InvalidArgument(f"{pass_.name}: input must be a GL texture name", field=port.name,
                                  expected="int > 0", actual=repr(tex))
        w, h, _ = texture_size(tex)
        if (w, h) != size:
            raise InvalidArgument(f"{pass_.name}: input size does not match the pass", field=port.name,
                                  expected=f"{size[0]}x{size[1]}", actual=f"{w}x{h}")
