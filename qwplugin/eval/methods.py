"""The reconstruction methods evaluation compares, behind one small interface.

Each method is stateful over a sequence: ``reset()`` drops its history; ``step(frame)`` takes one
:class:`~qwplugin.runtime.frame.Frame` (numpy arrays, top-down) and returns the (H, W, 3) float32 linear
HDR output. Names:

=============  ==========================================================================================
``noaa``       the aliased, jittered input itself
``taa``        the PyTorch TAA baseline (:mod:`qwplugin.taa`, same algorithm as the GLSL pass)
``qwnet-fp32`` QW-Net through the runtime :class:`~qwplugin.runtime.Context` (the product path), FP32
``qwnet-int4`` the same with the 4-bit extractor on the fastest exact integer backend available
``unet-fp32``  the black-box U-Net baseline (colour predicted directly), FP32
``unet-int4``  its 4-bit version
=============  ==========================================================================================

A network method may also be written ``NAME=PATH.safetensors`` (e.g. ``qwnet-fp32=runs/x/w.safetensors``
or ``ablation-nodepth=...``): the precision is then taken from the name's suffix (``-int4`` -> int4,
otherwise fp32) and the weights from the file.
"""

from __future__ import annotations

import numpy as np
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.runtime import Context, ContextDesc, Frame
from qwplugin.taa import TAAConfig, TemporalAA

METHOD_NAMES = ("noaa", "taa", "unet-fp32", "unet-int4", "qwnet-fp32", "qwnet-int4")
LABELS = {"noaa": "no AA", "taa": "TAA", "unet-fp32": "U-Net FP32", "unet-int4": "U-Net 4-bit",
          "qwnet-fp32": "QW-Net FP32", "qwnet-int4": "QW-Net 4-bit"}


class NoAAMethod:
    """The aliased input, unchanged."""

    name = "noaa"

    def __init__(self):
        self.description = "aliased jittered input (1 sample per pixel)"

    def reset(self) -> None:
        pass

    def step(self, frame: Frame) -> np.ndarray:
        return np.asarray(frame.color, np.float32)[..., :3].copy()

    def close(self) -> None:
        pass


class TAAMethod:
    """The PyTorch TAA baseline (:class:`qwplugin.taa.TemporalAA`) with its default parameters."""

    name = "taa"

    def __init__(self, config: TAAConfig = TAAConfig()):
        self._taa = TemporalAA(config)
        self.description = f"TAA (PyTorch, alpha {config.alpha}, gamma {config.gamma})"

    def reset(self) -> None:
        self._taa.reset()

    def step(self, frame: Frame) -> np.ndarray:
        color = torch.from_numpy(np.ascontiguousarray(frame.color[..., :3], np.float32)).permute(2, 0, 1)[None]
        motion = torch.from_numpy(np.ascontiguousarray(frame.motion_px, np.float32)).permute(2, 0, 1)[None]
        out = self._taa.step(color * float(frame.exposure), motion, reset=frame.reset, jitter_px=frame.jitter_px)
        return (out[0].permute(1, 2, 0) / float(frame.exposure)).numpy()

    def close(self) -> None:
        self._taa.close()


class ContextMethod:
    """A network run through the runtime :class:`~qwplugin.runtime.Context`.

    Args:
        name: method name (``qwnet-int4``, ...).
        model: built-in model name or weights path.
        precision: ``"fp32"`` or ``"int4"``.
        size: render size (width, height).
    """

    def __init__(self, name: str, model: str, precision: str, size: tuple[int, int]):
        self.name = name
        self._ctx = Context(ContextDesc(render_size=size, model=model, precision=precision, backend="auto"))
        info = self._ctx.backend_info
        self.description = (f"{info.model} {precision} ({info.precision_detail}) on {info.device}; "
                            f"weights {info.weights}")

    def reset(self) -> None:
        self._ctx.reset()

    def step(self, frame: Frame) -> np.ndarray:
        return np.asarray(self._ctx.dispatch(frame), np.float32)

    def close(self) -> None:
        self._ctx.close()


def parse_method(spec: str) -> tuple[str, str | None]:
    """``"NAME"`` or ``"NAME=PATH"`` -> (name, path or None).

    Raises:
        InvalidArgument: an unknown name without a path, or an empty name.
    """
    name, _, path = spec.partition("=")
    name = name.strip()
    if not name:
        raise InvalidArgument("empty method name", field="--methods", expected="NAME or NAME=PATH", actual=spec)
    if not path and name not in METHOD_NAMES:
        raise InvalidArgument("unknown method", field="--methods", expected=", ".join(METHOD_NAMES) +
                              " or NAME=PATH.safetensors", actual=name)
    return name, (path.strip() or None)


def make_method(spec: str, size: tuple[int, int]):
    """Build the method named by ``spec`` (see the module docstring) for frames of ``size`` (W, H).

    Raises:
        InvalidArgument: unknown name, bad weights file.
    """
    name, path = parse_method(spec)
    if name == "noaa" and path is None:
        return NoAAMethod()
    if name == "taa" and path is None:
        return TAAMethod()
    precision = "int4" if name.endswith("-int4") else "fp32"
    model = path if path is not None else name.rsplit("-", 1)[0]
    return ContextMethod(name, model, precision, size)


def label_of(name: str) -> str:
    """Human label of a method name (the name itself for custom ones)."""
    return LABELS.get(name, name)
