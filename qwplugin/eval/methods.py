"""The reconstruction methods evaluation compares, behind one small interface.

Each method is stateful over a sequence: ``reset()`` drops its history; ``step(frame)`` takes one
:class:`~qwplugin.runtime.frame.Frame` (numpy arrays, top-down) and returns the (H, W, 3) float32 linear
HDR output. Names:

==============  =========================================================================================
``noaa``        the aliased, jittered input itself
``taa``         the strong TAA baseline: :class:`~qwplugin.taa.TAAConfig` defaults (tuned on training
                scenes), PyTorch (:mod:`qwplugin.taa`, same algorithm as the GLSL pass), given the frame's
                linear view depth when the configuration uses depth
``taa-classic`` the textbook TAA the project started with (:meth:`~qwplugin.taa.TAAConfig.classic`)
``qwnet-fp32``  QW-Net through the runtime :class:`~qwplugin.runtime.Context` (the product path), FP32
``qwnet-int4``  the same with the 4-bit extractor on the fastest exact integer backend available
``unet-fp32``   the black-box U-Net baseline (colour predicted directly), FP32
``unet-int4``   its 4-bit version
==============  =========================================================================================

A method may also be written ``NAME=PATH``:

- ``PATH.json``: a TAA configuration (:meth:`~qwplugin.taa.TAAConfig.from_dict` of the file's object), e.g.
  ``taa=runs/sweep/cfg_012.json`` (the tuning sweep) or ``taa-nodilate=cfg.json``;
- any other path: network weights (e.g. ``qwnet-fp32=runs/x/w.safetensors`` or ``ablation-nodepth=...``);
  the precision is then taken from the name's suffix (``-int4`` -> int4, otherwise fp32).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.runtime import Context, ContextDesc, Frame
from qwplugin.taa import TAAConfig, TemporalAA

METHOD_NAMES = ("noaa", "taa", "taa-classic", "unet-fp32", "unet-int4", "qwnet-fp32", "qwnet-int4")
LABELS = {"noaa": "no AA", "taa": "TAA", "taa-classic": "TAA classic", "unet-fp32": "U-Net FP32",
          "unet-int4": "U-Net 4-bit", "qwnet-fp32": "QW-Net FP32", "qwnet-int4": "QW-Net 4-bit"}
BASELINE = "taa"
"""The method every other is compared with (win / tie / loss): the strongest TAA we have."""


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
    """The PyTorch TAA (:class:`qwplugin.taa.TemporalAA`) with one configuration.

    Args:
        name: method name (``taa``, ``taa-classic``, or the NAME of ``NAME=PATH.json``).
        config: the TAA parameters.
        source: where the configuration came from, for the description.
    """

    def __init__(self, name: str, config: TAAConfig, source: str):
        self.name = name
        self.config = config
        self._taa = TemporalAA(config)
        params = ", ".join(f"{k}={v}" for k, v in config.to_dict().items())
        self.description = f"TAA (PyTorch, {source}{', with depth' if config.uses_depth else ''}): {params}"

    def reset(self) -> None:
        self._taa.reset()

    def step(self, frame: Frame) -> np.ndarray:
        color = torch.from_numpy(np.ascontiguousarray(frame.color[..., :3], np.float32)).permute(2, 0, 1)[None]
        motion = torch.from_numpy(np.ascontiguousarray(frame.motion_px, np.float32)).permute(2, 0, 1)[None]
        depth = None
        if self.config.uses_depth:
            if frame.depth is None:
                raise InvalidArgument("this TAA configuration needs depth", field="depth",
                                      expected="(H, W) linear view depth", actual="None")
            depth = torch.from_numpy(np.ascontiguousarray(frame.depth, np.float32)).reshape(1, 1, *color.shape[-2:])
        out = self._taa.step(color * float(frame.exposure), motion, reset=frame.reset, jitter_px=frame.jitter_px,
                             depth=depth)
        return (out[0].permute(1, 2, 0) / float(frame.exposure)).numpy()

    def close(self) -> None:
        self._taa.close()


def load_taa_config(path: str | Path) -> TAAConfig:
    """A :class:`~qwplugin.taa.TAAConfig` from a JSON file holding :meth:`~qwplugin.taa.TAAConfig.to_dict`.

    Raises:
        InvalidArgument: the file is missing, not JSON, not an object, or has unknown keys / bad values.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise InvalidArgument("cannot read the TAA configuration file", field="--methods",
                              expected="a readable JSON file", actual=f"{p} ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidArgument("TAA configuration file is not JSON", field="--methods",
                              expected="a JSON object of TAAConfig fields", actual=f"{p}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArgument("TAA configuration file must hold an object", field="--methods",
                              expected="a JSON object of TAAConfig fields", actual=f"{p}: {type(data).__name__}")
    try:
        return TAAConfig.from_dict(data)
    except InvalidArgument as exc:
        raise InvalidArgument(f"bad TAA configuration in {p}: {exc}", field=exc.field, expected=exc.expected,
                              actual=exc.actual) from exc


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
    """``"NAME"`` or ``"NAME=PATH"`` -> (name, path or None). A ``.json`` path is loaded as a TAA
    configuration here already, so a bad file is refused before any rendering.

    Raises:
        InvalidArgument: an unknown name without a path, an empty name, a missing file, a bad TAA file.
    """
    name, _, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not name:
        raise InvalidArgument("empty method name", field="--methods", expected="NAME or NAME=PATH", actual=spec)
    if not path and name not in METHOD_NAMES:
        raise InvalidArgument("unknown method", field="--methods", expected=", ".join(METHOD_NAMES) +
                              " or NAME=PATH (.json TAA configuration or weights)", actual=name)
    if path:
        if not Path(path).is_file():
            raise InvalidArgument("method file not found", field="--methods", expected="an existing file",
                                  actual=f"{name}={path}")
        if path.endswith(".json"):
            load_taa_config(path)
    return name, (path or None)


def make_method(spec: str, size: tuple[int, int]):
    """Build the method named by ``spec`` (see the module docstring) for frames of ``size`` (W, H).

    Raises:
        InvalidArgument: unknown name, bad weights or TAA configuration file.
    """
    name, path = parse_method(spec)
    if path is None:
        if name == "noaa":
            return NoAAMethod()
        if name == "taa":
            return TAAMethod(name, TAAConfig(), "TAAConfig() defaults, tuned on training scenes")
        if name == "taa-classic":
            return TAAMethod(name, TAAConfig.classic(), "TAAConfig.classic()")
    elif path.endswith(".json"):
        return TAAMethod(name, load_taa_config(path), path)
    precision = "int4" if name.endswith("-int4") else "fp32"
    model = path if path is not None else name.rsplit("-", 1)[0]
    return ContextMethod(name, model, precision, size)


def label_of(name: str) -> str:
    """Human label of a method name (the name itself for custom ones)."""
    return LABELS.get(name, name)
