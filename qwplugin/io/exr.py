"""OpenEXR read/write of named single-channel planes, through the OpenEXR Python bindings (>= 3.2).

Arrays are top-down (row 0 = top), as EXR stores them; channel names may carry a layer prefix
(``"color.R"``, ``"motion.X"``), which EXR viewers such as tev or Nuke show as layers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenEXR

from qwplugin.errors import InvalidArgument

_FLOAT_DTYPES = (np.float16, np.float32)


def write_exr(path: str | os.PathLike, channels: dict[str, np.ndarray], half: bool = True) -> None:
    """Write one scanline EXR (ZIP compression) holding the given planes.

    Args:
        path: output file.
        channels: ``{name: (H, W) array}``; all the same size; float16, float32 or uint32.
        half: store every float plane as half (float16). False keeps each plane's float dtype.

    Raises:
        InvalidArgument: empty dict, a plane not 2D, sizes differ, or an unsupported dtype.
    """
    if not channels:
        raise InvalidArgument("no channels to write", field="channels", expected="non-empty dict", actual="{}")
    shape = None
    planes = {}
    for name, plane in channels.items():
        plane = np.asarray(plane)
        if plane.ndim != 2:
            raise InvalidArgument(f"channel {name!r} must be 2D", field=f"channels[{name!r}]",
                                  expected="(H, W)", actual=str(plane.shape))
        if shape is None:
            shape = plane.shape
        elif plane.shape != shape:
            raise InvalidArgument(f"channel {name!r} size differs", field=f"channels[{name!r}]",
                                  expected=str(shape), actual=str(plane.shape))
        if plane.dtype.kind == "f" or plane.dtype == np.float64:
            dtype = np.float16 if half else (plane.dtype if plane.dtype in _FLOAT_DTYPES else np.float32)
        elif plane.dtype == np.uint32:
            dtype = np.uint32
        else:
            raise InvalidArgument(f"channel {name!r} has an unsupported dtype", field=f"channels[{name!r}]",
                                  expected="float16, float32, float64 or uint32", actual=str(plane.dtype))
        planes[name] = np.ascontiguousarray(plane, dtype=dtype)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, planes) as f:
        f.write(str(Path(path)))


def read_exr(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every channel of a (single-part) EXR as ``{name: (H, W) array}`` in its stored dtype.

    Raises:
        InvalidArgument: the file does not exist or is not a readable EXR.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument("EXR file not found", field="path", expected="an existing file", actual=str(path))
    try:
        with OpenEXR.File(str(path), separate_channels=True) as f:
            return {name: np.array(ch.pixels) for name, ch in f.channels().items()}
    except Exception as exc:  # noqa: BLE001 - the bindings raise plain RuntimeError/OSError on bad files
        raise InvalidArgument(f"cannot read EXR {path}: {exc}", field="path", expected="an OpenEXR file",
                              actual=str(path)) from exc
