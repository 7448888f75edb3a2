"""RoutedPass: ``qwnet-routed`` (QW-Net on the hard tiles, the tuned TAA elsewhere) as a GL render pass.

The routed method is an array reconstructor (:class:`qwplugin.runtime.routed.RoutedQWNet`: the TAA, the
classifier, the tile decision, the budget controller and QW-Net on the gathered tiles all run in
PyTorch). This pass puts it behind the same :class:`~engine_bridge.bridge.Bridge` as :class:`QWNetPass`
(read-back, or CUDA-GL interop on a GPU), so a renderer toggles it like any other pass and the output is
the array method's, pixel for pixel (the transfer rounds to RGBA16F as every pass output does). The
per-frame heavy fraction, the chosen k and the budget report are in ``info.details`` (the demo's HUD reads
them); ``ContextDesc``-style ``budget_ms`` is the spec option ``qwnet-routed:budget_ms=350``.
"""

from __future__ import annotations

from collections.abc import Mapping

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from engine_bridge.bridge import Bridge
from engine_bridge.passes.base import Port
from engine_bridge.passes.qwnet_pass import BridgedPass
from qwplugin.runtime.reconstructor import MethodInfo


class RoutedPass(BridgedPass):
    """A routed array method of the registry behind a Bridge (see the module docstring).

    Args:
        width, height: render size in pixels.
        spec: the registry spec, e.g. ``"qwnet-routed"``, ``"qwnet-routed:k=1"``,
            ``"qwnet-routed:budget_ms=350"`` or ``"qwnet-routed-rule"``.
        transfer: ``"auto"``, ``"readback"`` or ``"cuda_interop"`` (see :class:`~engine_bridge.bridge.Bridge`).
        **options: further options of the array method (``precision``, ``model``, ``backend``, ...).

    Raises:
        InvalidArgument: bad size, spec or option (from the registry / :class:`RoutedQWNet`).
        UnsupportedHardware: an impossible backend or transfer was requested.
    """

    name = "qwnet-routed"
    family = "network"

    def __init__(self, width: int, height: int, spec: str = "qwnet-routed", transfer: str = "auto", **options):
        from qwplugin.runtime import registry

        super().__init__(width, height)
        self._props = {"spec": spec, "transfer": transfer, **options}
        self.method = registry.make(spec, (width, height), target="array", **options)
        self._output = 0
        try:
            self.bridge = Bridge(self.method, transfer=transfer)
            self._alloc(width, height)
        except Exception:
            self.method.close()
            raise

    @property
    def info(self) -> MethodInfo:
        """The array method's :attr:`info` plus the bridge's transfer."""
        m = self.method.info
        return MethodInfo(name=m.name, label=m.label, description=m.description, uses_depth=m.uses_depth,
                          uses_jitter=m.uses_jitter, family=m.family, trained=m.trained,
                          summary=f"{m.summary}, {self.bridge.transfer_name}",
                          details={**m.details, "transfer": self.bridge.transfer_name,
                                   "transfer_reason": self.bridge.transfer_reason},
                          render_size=self.size, display_size=self.size)

    def timings_ms(self) -> dict:
        """Median ms of the bridge's stages and of the routed method's stages."""
        inner = getattr(self.method, "timings_ms", None)
        return {"bridge_ms_median": self.bridge.timings_ms(), **({"method_ms_median": inner()} if inner else {})}

    def inputs(self) -> dict[str, Port]:
        return {
            self.INPUT_COLOR: Port(self.INPUT_COLOR, "current colour, linear HDR, jittered, render size", "RGBA16F"),
            self.INPUT_MOTION: Port(self.INPUT_MOTION, "motion_px: previous = current + motion, render px, "
                                    "+x right, +y down, jitter removed", "RG16F"),
            self.INPUT_DEPTH: Port(self.INPUT_DEPTH, "linear view depth (R32F): the TAA and the classifier's "
                                   "disocclusion test read it", "R32F", optional=not self.method.info.uses_depth),
        }

    def outputs(self) -> dict[str, Port]:
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR, "routed reconstruction, linear HDR, render size",
                                        "RGBA16F")}

    @property
    def _reads_depth(self) -> bool:
        return self.method.info.uses_depth

    def get_properties(self) -> dict:
        return dict(self._props)

    @classmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> RoutedPass:
        return cls(width, height, **dict(properties))


def _routed_gl(name, size, *, transfer=None, **options):
    """The GL factory: ``name`` is the whole spec (``qwnet-routed:k=1``); its options arrive parsed too."""
    return RoutedPass(*size, spec=name, transfer=transfer or "auto", **options)


def _register() -> None:
    from qwplugin.runtime import registry

    for name in ("qwnet-routed", "qwnet-routed-rule"):
        if name not in registry.names("gl"):
            registry.register(name, _routed_gl, target="gl")


_register()
