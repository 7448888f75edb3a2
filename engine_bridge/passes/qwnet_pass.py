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
from engine_bridge.passes.base import Port, RenderPass, check_size
from qwplugin.errors import InvalidArgument
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.reconstructor import MethodInfo
from qwplugin.runtime.validate import FrameValues

PROPERTY_DEFAULTS = {"model": "qwnet", "precision": "int4", "backend": "auto", "transfer": "auto"}


class BridgedPass(RenderPass):
    """A pass whose work is an array reconstructor behind a :class:`~engine_bridge.bridge.Bridge`: the shared
    execute / reset / resize / close plumbing of :class:`QWNetPass` and
    :class:`~engine_bridge.passes.routed_pass.RoutedPass`. Subclasses set ``self.bridge`` and
    ``self._output`` (0) and say whether depth is read (:attr:`_reads_depth`)."""

    @property
    def _reads_depth(self) -> bool:
        raise NotImplementedError

    def _execute(self, inputs: Mapping[str, int], frame: Frame, values: FrameValues) -> dict[str, int]:
        depth = inputs.get(self.INPUT_DEPTH) if self._reads_depth else None
        textures = Frame(color=inputs[self.INPUT_COLOR], motion_px=inputs[self.INPUT_MOTION], depth=depth,
                         **values.as_fields())
        self.bridge._dispatch_checked(textures, values, self._output)  # values checked once, by execute
        return {self.OUTPUT_COLOR: self._output}

    def _reset(self) -> None:
        self.bridge.reset()

    def _resize(self, width: int, height: int) -> None:
        self.bridge.resize(width, height)
        self._alloc(*self.bridge.display_size)

    def _alloc(self, width: int, height: int) -> None:
        delete_textures(self._output)
        self._output = create_texture(width, height, GL.GL_RGBA16F)

    def _close(self) -> None:
        self.bridge.close(close_context=True)
        delete_textures(self._output)
        self._output = 0


class QWNetPass(BridgedPass):
    """QW-Net anti-aliasing or temporal upscaling: colour + motion (+ depth when the model uses it) at the
    render size in, reconstruction out (at the display size for an upscaling model, e.g. ``qwnet-fast-up2``).

    Args:
        width, height: render size in pixels.
        model: model name or weights path (``ContextDesc.model``).
        display_size: ``(W, H)`` of the output for an upscaling model (``ContextDesc.display_size``); None:
            the render size (an upscaling model then refuses, naming ``display_size``).
        precision: ``"int4"`` or ``"fp32"`` (``ContextDesc.precision``).
        backend: ``"auto"``, ``"cpu"`` or ``"cuda"`` (``ContextDesc.backend``).
        transfer: ``"auto"``, ``"readback"`` or ``"cuda_interop"`` (see
            :class:`~engine_bridge.bridge.Bridge`).
        **desc_fields: further :class:`~qwplugin.runtime.desc.ContextDesc` fields (``budget_ms``,
            ``seed``...).
        name, label: what :attr:`info` reports (default ``"<model kind>-<precision>"``).

    Raises:
        InvalidArgument: bad size or context field (from ``ContextDesc``).
        UnsupportedHardware: an impossible backend or transfer was requested.
    """

    name = "qwnet"
    family = "network"

    def __init__(self, width: int, height: int, model: str = "qwnet", precision: str = "int4",
                 backend: str = "auto", transfer: str = "auto", *, display_size: tuple[int, int] | None = None,
                 name: str | None = None, label: str | None = None, **desc_fields):
        from qwplugin.runtime import Context, ContextDesc

        super().__init__(width, height, name=name, label=label)
        self._props = {"model": model, "precision": precision, "backend": backend, "transfer": transfer,
                       **desc_fields}
        desc = ContextDesc(render_size=(width, height), display_size=display_size, model=model,
                           precision=precision, backend=backend, **desc_fields)
        self.context = Context(desc, name=name, label=label)
        self._output = 0
        try:
            self.bridge = Bridge(self.context, transfer=transfer)
            self._alloc(*self.bridge.display_size)
        except Exception:
            self.context.close()
            raise

    @property
    def info(self) -> MethodInfo:
        """What runs: the context's :attr:`~qwplugin.runtime.Context.info` plus the bridge's transfer."""
        c = self.context.info
        return MethodInfo(name=c.name, label=c.label, description=c.description, uses_depth=c.uses_depth,
                          uses_jitter=c.uses_jitter, family=c.family, trained=c.trained,
                          summary=f"{c.summary}, {self.bridge.transfer_name}",
                          details={**c.details, "transfer": self.bridge.transfer_name,
                                   "transfer_reason": self.bridge.transfer_reason},
                          render_size=c.render_size, display_size=c.display_size)

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` of the output texture (the render size unless the model upscales)."""
        return tuple(self.context.desc.display_size)

    def resize(self, render_size, display_size=None) -> None:
        """Reallocate for a new render size (and display size, for an upscaling model: None keeps its scale);
        drops the history. An anti-aliasing model refuses a display size other than the render size.

        Raises:
            InvalidArgument: bad size (field ``render_size`` / ``display_size``).
            InvalidOperation: the pass was closed.
        """
        if not self.context.upscaling or isinstance(display_size, int):
            super().resize(render_size, display_size)
            return
        try:
            width, height = render_size
        except (TypeError, ValueError):
            raise InvalidArgument("render_size must be (width, height)", field="render_size",
                                  expected="(width, height)", actual=repr(render_size)) from None
        check_size(width, height)
        self._require_open("resize")
        self.bridge.resize(width, height, display_size)  # the context checks the pair against its model
        self._alloc(*self.bridge.display_size)
        self._size = (width, height)

    def timings_ms(self) -> dict:
        """Median ms of the bridge's stages and of the context's stages over their recent windows."""
        return {"bridge_ms_median": self.bridge.timings_ms(),
                "context_ms_median": self.context.stats.timing_median_ms}

    def inputs(self) -> dict[str, Port]:
        return {
            self.INPUT_COLOR: Port(self.INPUT_COLOR, "current colour, linear HDR, jittered, render size",
                                   "RGBA16F"),
            self.INPUT_MOTION: Port(self.INPUT_MOTION, "motion_px: previous = current + motion, render px, "
                                    "+x right, +y down, jitter removed", "RG16F"),
            self.INPUT_DEPTH: Port(self.INPUT_DEPTH, "depth in the context's convention (linear view depth "
                                   "R32F by default); read only when the model uses depth (then required)",
                                   "R32F", optional=not self.context.uses_depth),
        }

    def outputs(self) -> dict[str, Port]:
        size = "display size" if self.context.upscaling else "render size"
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR, f"QW-Net reconstruction, linear HDR, {size}",
                                        "RGBA16F")}

    @property
    def _reads_depth(self) -> bool:
        return self.context.uses_depth

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

