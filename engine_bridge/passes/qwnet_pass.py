"""QWNetPass: QW-Net reconstruction as a render pass (same protocol as the TAA and no-AA passes).

The pass owns a :class:`qwplugin.runtime.Context` (the network, its history, its timing statistics), a
:class:`~engine_bridge.bridge.Bridge` (the GL transfer: CUDA-GL interop or read-back) and its output
texture. The renderer toggles anti-aliasing by swapping this object for a ``TAAPass`` or ``NoAAPass``.
"""

from __future__ import annotations

from collections.abc import Mapping

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.bridge import Bridge
from engine_bridge.gl.textures import create_texture, delete_textures
from engine_bridge.passes.base import PassFrame, Port, RenderPass, check_inputs, check_size
from qwplugin.errors import InvalidArgument, InvalidOperation

PROPERTY_DEFAULTS = {"model": "qwnet", "precision": "int4", "backend": "auto", "transfer": "auto"}


class QWNetPass(RenderPass):
    """QW-Net anti-aliasing: colour + motion (+ depth when the model uses it) in, reconstruction out.

    Args:
        width, height: render size in pixels.
        model: model name or weights path (``ContextDesc.model``).
        precision: ``"int4"`` or ``"fp32"`` (``ContextDesc.precision``).
        backend: ``"auto"``, ``"cpu"`` or ``"cuda"`` (``ContextDesc.backend``).
        transfer: ``"auto"``, ``"readback"`` or ``"cuda_interop"`` (see
            :class:`~engine_bridge.bridge.Bridge`).
        **desc_fields: further :class:`~qwplugin.runtime.desc.ContextDesc` fields (``budget_ms``,
            ``seed``...).

    Raises:
        InvalidArgument: bad size or context field (from ``ContextDesc``).
        UnsupportedHardware: an impossible backend or transfer was requested.
    """

    name = "qwnet"
    INPUT_COLOR = "color"
    INPUT_MOTION = "motion_px"
    INPUT_DEPTH = "depth"
    OUTPUT_COLOR = "color"

    def __init__(self, width: int, height: int, model: str = "qwnet", precision: str = "int4",
                 backend: str = "auto", transfer: str = "auto", **desc_fields):
        from qwplugin.runtime import Context, ContextDesc

        check_size(width, height)
        self._props = {"model": model, "precision": precision, "backend": backend, "transfer": transfer,
                       **desc_fields}
        desc = ContextDesc(render_size=(width, height), model=model, precision=precision, backend=backend,
                           **desc_fields)
        self.context = Context(desc)
        self._output = 0
        self._closed = False
        try:
            self.bridge = Bridge(self.context, transfer=transfer)
            self._alloc(width, height)
        except Exception:
            self.context.close()
            raise

    @property
    def size(self) -> tuple[int, int]:
        """Render size (width, height) in pixels."""
        return self._size

    def inputs(self) -> dict[str, Port]:
        return {
            self.INPUT_COLOR: Port(self.INPUT_COLOR, "current colour, linear HDR, jittered, render size",
                                   "RGBA16F"),
            self.INPUT_MOTION: Port(self.INPUT_MOTION, "motion_px: previous = current + motion, render px, "
                                    "+x right, +y down, jitter removed", "RG16F"),
            self.INPUT_DEPTH: Port(self.INPUT_DEPTH, "depth in the context's convention (linear view depth "
                                   "R32F by default); read only when the model uses depth", "R32F",
                                   optional=True),
        }

    def outputs(self) -> dict[str, Port]:
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR, "QW-Net reconstruction, linear HDR, render size",
                                        "RGBA16F")}

    def execute(self, inputs: Mapping[str, int], frame: PassFrame) -> dict[str, int]:
        if self._closed:
            raise InvalidOperation("QWNetPass.execute called after close()")
        if not isinstance(frame, PassFrame):
            raise InvalidArgument("frame must be a PassFrame", field="frame", expected="PassFrame",
                                  actual=type(frame).__name__)
        check_inputs(self, inputs, self._size)
        depth = inputs.get(self.INPUT_DEPTH) if self._uses_depth() else None
        self.bridge.dispatch(inputs[self.INPUT_COLOR], inputs[self.INPUT_MOTION], self._output,
                             depth_tex=depth, jitter_px=frame.jitter_px, reset=frame.reset,
                             exposure=frame.exposure)
        return {self.OUTPUT_COLOR: self._output}

    def _uses_depth(self) -> bool:
        # Context has no public "uses depth" accessor yet; its private flag is read defensively.
        return bool(getattr(self.context, "uses_depth", getattr(self.context, "_use_depth", False)))

    def reset(self) -> None:
        self.bridge.reset()

    def _alloc(self, width: int, height: int) -> None:
        delete_textures(self._output)
        self._output = create_texture(width, height, GL.GL_RGBA16F)
        self._size = (width, height)

    def resize(self, width: int, height: int) -> None:
        check_size(width, height)
        if self._closed:
            raise InvalidOperation("QWNetPass.resize called after close()")
        self.bridge.resize(width, height)
        self._alloc(width, height)

    def get_properties(self) -> dict:
        return dict(self._props)

    @classmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> QWNetPass:
        from qwplugin.runtime import ContextDesc

        sizes = {"render_size", "display_size"}
        allowed = set(PROPERTY_DEFAULTS) | (set(ContextDesc.__dataclass_fields__) - sizes)
        unknown = sorted(set(properties) - allowed)
        if unknown:
            raise InvalidArgument("unknown QWNetPass properties", field=", ".join(unknown),
                                  expected="one of " + ", ".join(sorted(allowed)), actual=repr(unknown))
        return cls(width, height, **{**PROPERTY_DEFAULTS, **dict(properties)})

    def close(self) -> None:
        if self._closed:
            return
        self.bridge.close(close_context=True)
        delete_textures(self._output)
        self._output = 0
        self._closed = True
