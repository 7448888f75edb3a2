"""The reconstructor protocol: one small interface for every anti-aliasing method.

Every method (QW-Net and the U-Net through :class:`~qwplugin.runtime.Context`, the PyTorch TAA and no-AA
of :mod:`qwplugin.runtime.methods`, the GL passes of ``engine_bridge.passes``, later the upscalers and
routed models) has the same five members, so the demo, the benchmarks and the evaluation build them by
name from :mod:`qwplugin.runtime.registry` and never branch on which one they hold:

==================  ===================================================================================
member              meaning
==================  ===================================================================================
``dispatch(frame)`` reconstruct one :class:`~qwplugin.runtime.frame.Frame`; the output becomes the
                    next frame's history. Array reconstructors return (H, W, 3) float32 linear HDR
                    (numpy for numpy input); GL passes take texture names and return the output texture
``reset()``         drop the history (the next frame is a first frame)
``resize(size)``    new render size ``(width, height)`` (and ``display_size`` for upscalers); drops the
                    history
``close()``         release everything; idempotent; later calls raise InvalidOperation
``info``            a :class:`MethodInfo`: the name, what really runs, which optional inputs it reads,
                    the render and display sizes
==================  ===================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

FAMILIES = ("noaa", "taa", "network")
"""What kind of method an :class:`MethodInfo` describes: the raw input, a hand-written TAA, or a network
(QW-Net, the U-Net: expensive, timed over fewer frames by the benchmarks)."""


@dataclass(frozen=True)
class MethodInfo:
    """What a reconstructor runs (for HUDs, reports and benchmarks).

    Attributes:
        name: the registry name, e.g. ``"qwnet-int4"`` (or a caller's own name such as ``"taa-nodilate"``).
        label: the human label, e.g. ``"QW-Net 4-bit"``.
        description: one line saying honestly what runs (device, precision, weights; or the configuration).
        uses_depth: ``Frame.depth`` is read (so it is required).
        uses_jitter: ``Frame.jitter_px`` is read (it is always checked).
        family: one of :data:`FAMILIES`.
        trained: False when a network runs randomly initialised weights; None for methods with no weights.
        summary: a short line for a HUD (defaults to ``description``).
        details: further JSON-able facts (e.g. ``device``, ``precision_detail``, ``weights``, ``transfer``).
        render_size: ``(width, height)`` of the input frames (None where a method does not report it).
        display_size: ``(width, height)`` of the output; equal to ``render_size`` for anti-aliasing, larger
            for the upscalers (:mod:`qwplugin.runtime.upscalers`); None where not reported.
    """

    name: str
    label: str
    description: str
    uses_depth: bool
    uses_jitter: bool
    family: str
    trained: bool | None = None
    summary: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    render_size: tuple[int, int] | None = None
    display_size: tuple[int, int] | None = None

    def __post_init__(self):
        assert self.family in FAMILIES, self.family
        if not self.summary:
            object.__setattr__(self, "summary", self.description)
        if self.render_size is not None:
            object.__setattr__(self, "render_size", tuple(int(v) for v in self.render_size))
            if self.display_size is None:
                object.__setattr__(self, "display_size", self.render_size)
        if self.display_size is not None:
            object.__setattr__(self, "display_size", tuple(int(v) for v in self.display_size))

    @property
    def upscales(self) -> bool:
        """Whether the output is larger than the input (``display_size != render_size``)."""
        return self.display_size is not None and self.render_size is not None and \
            self.display_size != self.render_size


@runtime_checkable
class Reconstructor(Protocol):
    """The protocol every method implements (see the module docstring)."""

    @property
    def info(self) -> MethodInfo:
        """What runs (:class:`MethodInfo`)."""

    def dispatch(self, frame: Any) -> Any:
        """Reconstruct one frame (see the module docstring for the output type)."""

    def reset(self) -> None:
        """Drop the history."""

    def resize(self, render_size: tuple[int, int], display_size: tuple[int, int] | None = None) -> None:
        """New sizes ``(width, height)``; drops the history."""

    def close(self) -> None:
        """Release everything; idempotent."""
