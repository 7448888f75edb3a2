"""The array reconstructors besides QW-Net: no-AA and the PyTorch TAA (:mod:`qwplugin.taa`).

Both follow the reconstructor protocol (:class:`~qwplugin.runtime.reconstructor.Reconstructor`) like
:class:`~qwplugin.runtime.Context`, take a :class:`~qwplugin.runtime.frame.Frame` of top-down arrays and
return (H, W, 3) float32 linear HDR (numpy for numpy colour, else a torch tensor on colour's device). The
frame is checked once, with :func:`~qwplugin.runtime.validate.check_frame`. Build them by name with
:func:`qwplugin.runtime.registry.make` (``"noaa"``, ``"taa"``, ``"taa-classic"``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.runtime.desc import _check_size
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.reconstructor import MethodInfo
from qwplugin.runtime.validate import check_frame
from qwplugin.taa import TAAConfig, TemporalAA


class _ArrayMethod:
    """Shared lifecycle of the array reconstructors: size, closed state."""

    def __init__(self, render_size: tuple[int, int]):
        self._size = _check_size(render_size, "render_size")
        self._closed = False

    @property
    def render_size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return self._size

    def _require_open(self, verb: str) -> None:
        if self._closed:
            raise InvalidOperation(f"{type(self).__name__}.{verb} called after close()")

    def resize(self, render_size: tuple[int, int], display_size: tuple[int, int] | None = None) -> None:
        """New render size ``(width, height)``; drops the history.

        Raises:
            InvalidArgument: bad size, or a display size different from the render size
                (an InvalidArgument (field ``display_size``): this method does not upscale).
            InvalidOperation: after ``close()``.
        """
        self._require_open("resize")
        size = _check_size(render_size, "render_size")
        if display_size is not None and _check_size(display_size, "display_size") != size:
            from qwplugin.runtime.upscalers import not_an_upscaler_error

            name = self.info.name
            raise not_an_upscaler_error(name, size, tuple(display_size), (f"{name}+lanczos",))
        self._size = size
        self.reset()

    def reset(self) -> None:
        """Drop the history (no-op for stateless methods)."""
        self._require_open("reset")

    def close(self) -> None:
        """Release the history; later calls raise InvalidOperation. Idempotent."""
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NoAA(_ArrayMethod):
    """No anti-aliasing: the output is the aliased, jittered input colour (RGB), unchanged.

    Args:
        render_size: ``(width, height)`` of the frames.
        name, label: what :attr:`info` reports.

    Examples:
        >>> f = Frame(color=np.full((2, 3, 4), 0.5, np.float32), motion_px=np.zeros((2, 3, 2), np.float32),
        ...           jitter_px=(0.0, 0.0))
        >>> NoAA((3, 2)).dispatch(f).shape
        (2, 3, 3)
    """

    def __init__(self, render_size: tuple[int, int], *, name: str = "noaa", label: str = "no AA"):
        super().__init__(render_size)
        self._info = MethodInfo(name=name, label=label, description="aliased jittered input (1 sample per pixel)",
                                uses_depth=False, uses_jitter=False, family="noaa")

    @property
    def info(self) -> MethodInfo:
        """What runs (with the render size = display size)."""
        return dataclasses.replace(self._info, render_size=self._size, display_size=self._size)

    def dispatch(self, frame: Frame):
        """The frame's colour (RGB) as a new float32 array.

        Raises:
            InvalidArgument: a bad frame field (see :func:`~qwplugin.runtime.validate.check_frame`).
            InvalidOperation: after ``close()``.
        """
        self._require_open("dispatch")
        check_frame(frame, (self._size[1], self._size[0]), needs_depth=False)
        if isinstance(frame.color, np.ndarray):
            return np.asarray(frame.color, np.float32)[..., :3].copy()
        return frame.color[..., :3].to(torch.float32).clone()


class TAA(_ArrayMethod):
    """The PyTorch TAA (:class:`qwplugin.taa.TemporalAA`) with one configuration, on arrays.

    The colour is pre-exposed (``colour * exposure``) before the resolve and divided by the exposure after,
    as the GL pass's host does. Depth (linear view depth) is required when ``config.uses_depth``.

    Args:
        render_size: ``(width, height)`` of the frames.
        config: the TAA parameters (default :class:`~qwplugin.taa.TAAConfig`, tuned on training scenes).
        name, label: what :attr:`info` reports.
        source: where the configuration came from, for the description.

    Raises:
        InvalidArgument: bad size or config.
    """

    def __init__(self, render_size: tuple[int, int], config: TAAConfig | None = None, *, name: str = "taa",
                 label: str | None = None, source: str = "TAAConfig() defaults, tuned on training scenes"):
        super().__init__(render_size)
        config = TAAConfig() if config is None else config
        self._taa = TemporalAA(config)  # checks the config's type
        self.config = config
        params = ", ".join(f"{k}={v}" for k, v in config.to_dict().items())
        self._info = MethodInfo(
            name=name, label=label or name, uses_depth=config.uses_depth, uses_jitter=True, family="taa",
            description=f"TAA (PyTorch, {source}{', with depth' if config.uses_depth else ''}): {params}")

    @property
    def info(self) -> MethodInfo:
        """What runs (with the render size = display size)."""
        return dataclasses.replace(self._info, render_size=self._size, display_size=self._size)

    def reset(self) -> None:
        """Drop the history."""
        super().reset()
        self._taa.reset()

    def close(self) -> None:
        """Release the history. Idempotent."""
        self._taa.close()
        super().close()

    def dispatch(self, frame: Frame):
        """Resolve one frame.

        Raises:
            InvalidArgument: a bad frame field, or no depth when the configuration uses depth.
            InvalidOperation: after ``close()``.
        """
        self._require_open("dispatch")
        w, h = self._size
        values = check_frame(frame, (h, w), needs_depth=self.config.uses_depth)
        color, motion = _nchw(frame.color, 3), _nchw(frame.motion_px, 2)
        scale = values.motion_vector_scale
        if scale is not None and scale != (1.0, 1.0):
            motion = motion * torch.tensor(scale, dtype=torch.float32, device=motion.device).view(1, 2, 1, 1)
        depth = None
        if self.config.uses_depth:
            depth = _nchw(frame.depth, 1).to(color.device).reshape(1, 1, h, w)
        out = self._taa._step(color * values.exposure, motion.to(color.device), values.reset, values.jitter_px,
                              depth)
        out = out[0].permute(1, 2, 0) / values.exposure
        return out.numpy() if isinstance(frame.color, np.ndarray) else out


def _nchw(a, channels: int) -> torch.Tensor:
    """(H, W[, C]) array -> (1, channels, H, W) float32 tensor (a view for numpy input, as the evaluation
    always converted it)."""
    if isinstance(a, np.ndarray):
        arr = np.ascontiguousarray(a[..., :channels] if a.ndim == 3 else a, np.float32)
        t = torch.from_numpy(arr)
    else:
        t = (a[..., :channels] if a.dim() == 3 else a).to(torch.float32)
    return t.permute(2, 0, 1)[None] if t.dim() == 3 else t[None, None]


def load_taa_config(path: str | Path, field: str = "--methods", upscaling: bool = False):
    """A :class:`~qwplugin.taa.TAAConfig` from a JSON file holding :meth:`~qwplugin.taa.TAAConfig.to_dict`
    (with ``upscaling``, a :class:`~qwplugin.taau.TAAUConfig` from its ``to_dict``).

    Raises:
        InvalidArgument: the file is missing, not JSON, not an object, or has unknown keys / bad values.
    """
    if upscaling:
        from qwplugin.taau import TAAUConfig as config_class
    else:
        config_class = TAAConfig
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise InvalidArgument("cannot read the TAA configuration file", field=field,
                              expected="a readable JSON file", actual=f"{p} ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidArgument("TAA configuration file is not JSON", field=field,
                              expected="a JSON object of TAAConfig fields", actual=f"{p}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArgument("TAA configuration file must hold an object", field=field,
                              expected="a JSON object of TAAConfig fields", actual=f"{p}: {type(data).__name__}")
    try:
        return config_class.from_dict(data)
    except InvalidArgument as exc:
        raise InvalidArgument(f"bad TAA configuration in {p}: {exc}", field=exc.field, expected=exc.expected,
                              actual=exc.actual) from exc
