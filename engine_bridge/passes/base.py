"""The render-pass protocol: small objects with named GL texture inputs and outputs.

The TAA, no-AA and QW-Net passes share this protocol, so a renderer toggles anti-aliasing by swapping pass
objects (no ``if`` on the mode inside the renderer). Modelled on Falcor's ``RenderPass`` (``reflect()``
ports, ``Properties`` that round-trip).

A pass needs a current OpenGL 4.1+ core context for its whole life (creation, ``execute``, ``resize``,
``close``); it never creates one. Textures are GL texture names (``int``); images in them follow GL's
bottom-up row order, while every coordinate convention in the data (motion, jitter) is the project's
top-down contract.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qwplugin.errors import InvalidArgument


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


@dataclass(frozen=True)
class PassFrame:
    """Per-frame values every pass may read (textures travel separately, by port name).

    Attributes:
        jitter_px: (x, y) sub-pixel jitter of this frame's render, render pixels in [-0.5, 0.5], +y down.
        reset: drop temporal history (first frame, camera cut, teleport).
        exposure: pre-exposure multiplier applied by the host (default 1).
        frame_index: running frame counter (statistics, debugging).
    """

    jitter_px: tuple[float, float] = (0.0, 0.0)
    reset: bool = False
    exposure: float = 1.0
    frame_index: int = 0

    def __post_init__(self):
        # Normalise numpy scalars (np.float32 jitter, np.bool_ reset) to Python types while validating.
        try:
            jitter = tuple(self.jitter_px)
        except TypeError:
            jitter = ()
        if len(jitter) != 2 or not all(isinstance(v, numbers.Real) and -0.5 <= v <= 0.5 for v in jitter):
            raise InvalidArgument("jitter_px out of range", field="jitter_px",
                                  expected="(x, y) each in [-0.5, 0.5]",
                                  actual=repr(self.jitter_px))
        if not isinstance(self.reset, (bool, np.bool_)):
            raise InvalidArgument("reset must be a bool", field="reset", expected="bool",
                                  actual=type(self.reset).__name__)
        exposure = self.exposure
        if not (isinstance(exposure, numbers.Real) and math.isfinite(exposure) and exposure > 0):
            raise InvalidArgument("exposure must be a finite positive number", field="exposure",
                                  expected="> 0",
                                  actual=repr(self.exposure))
        object.__setattr__(self, "jitter_px", (float(jitter[0]), float(jitter[1])))
        object.__setattr__(self, "reset", bool(self.reset))
        object.__setattr__(self, "exposure", float(self.exposure))


class RenderPass(abc.ABC):
    """Base class of GL passes. Subclasses define ``name``, the ports, and the GL work.

    Lifecycle: construct (allocates GL objects for ``width`` x ``height``) -> ``execute`` per frame ->
    ``resize`` on a size change (drops history) -> ``close``.
    """

    name: str = ""

    @abc.abstractmethod
    def inputs(self) -> dict[str, Port]:
        """The input ports by name."""

    @abc.abstractmethod
    def outputs(self) -> dict[str, Port]:
        """The output ports by name."""

    @abc.abstractmethod
    def execute(self, inputs: Mapping[str, int], frame: PassFrame) -> dict[str, int]:
        """Run the pass on GL textures ``inputs`` (port name -> texture name).

        Returns:
            output port name -> texture name, owned by the pass and valid until the next ``execute``,
            ``resize`` or ``close``.

        Raises:
            InvalidArgument: a required input is missing or has the wrong size or format.
            InvalidOperation: the pass was closed.
        """

    def reset(self) -> None:
        """Drop temporal history; the next ``execute`` is a first frame. No-op for stateless passes."""

    @abc.abstractmethod
    def resize(self, width: int, height: int) -> None:
        """Reallocate for a new render size (pixels); drops history."""

    @abc.abstractmethod
    def get_properties(self) -> dict:
        """The pass's settings as a JSON-able dict (not its size), round-tripping through from_properties."""

    @classmethod
    @abc.abstractmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> RenderPass:
        """Build a pass from :meth:`get_properties` output. Raises InvalidArgument on unknown keys."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the pass's GL objects (needs the context current). Idempotent."""

    def __enter__(self) -> RenderPass:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_size(width: int, height: int) -> None:
    """Raise InvalidArgument unless ``width`` and ``height`` are positive ints."""
    if not (isinstance(width, int) and isinstance(height, int) and width >= 1 and height >= 1):
        raise InvalidArgument("pass size must be positive integers", field="width/height", expected=">= 1",
                              actual=f"{width!r}x{height!r}")


def check_inputs(pass_: RenderPass, inputs: Mapping[str, int], size: tuple[int, int]) -> None:
    """Check that every required input port is present and each given texture is ``size`` (w, h).

    Raises:
        InvalidArgument: naming the port, with expected and actual values.
    """
    from engine_bridge.gl.textures import texture_size

    for port in pass_.inputs().values():
        if port.name not in inputs:
            if port.optional:
                continue
            raise InvalidArgument(f"{pass_.name}: missing input", field=port.name, expected=port.description,
                                  actual="nothing")
        tex = inputs[port.name]
        if not isinstance(tex, int) or tex <= 0:
            raise InvalidArgument(f"{pass_.name}: input must be a GL texture name", field=port.name,
                                  expected="int > 0", actual=repr(tex))
        w, h, _ = texture_size(tex)
        if (w, h) != size:
            raise InvalidArgument(f"{pass_.name}: input size does not match the pass", field=port.name,
                                  expected=f"{size[0]}x{size[1]}", actual=f"{w}x{h}")
