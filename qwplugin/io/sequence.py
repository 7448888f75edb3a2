"""The on-disk format of one rendered sequence (what ``python -m engine_bridge.render`` writes and the
dataset / evaluation tools read).

One folder per sequence::

    DIR/sequence.json        metadata (below)
    DIR/frame_0000.exr       per frame, one EXR with the planes
                               color.R/G/B       aliased, jittered colour, linear HDR, half
                               reference.R/G/B   supersampled reference at the same time, half (optional;
                                                 at the display size, see below)
                               motion.X/Y        motion_px (contract: render pixels, current -> previous,
                                                 jitter removed, +x right, +y down), half
                               depth.Z           linear view depth, float32 (half would keep only
                                                 ~3 significant digits at far distances; see docs/engine.md)

``sequence.json``: ``format`` ("qwplugin-sequence"), ``version`` (1), ``scene``, ``width``, ``height``,
``spp`` (reference samples per pixel, 0 = no reference), ``fps``, ``conventions`` (text), and ``frames``:
a list of ``{index, file, time_s, jitter_px: [x, y], reset, view: 4x4, projection: 4x4 (unjittered),
jittered_projection: 4x4}`` with matrices as row-major nested lists in the column-vector convention
(``p_clip = projection @ view @ p_world``).

Optional fields (written by the render command since the footprint-LOD reference; files without them
still load, the :class:`Sequence` attributes are then None):

==============================  ===========================================================================
``input_mip_bias``              texture LOD bias of the aliased ``color`` (FSR 2 rule: -1 at native size)
``reference_mip_bias``          base LOD bias of the reference (0 = the display pixel's footprint)
``reference_sample_mip_bias``   LOD bias each of the reference's ``k x k`` sub-samples used
                                (``reference_mip_bias - log2(k)``)
``jitter_phase_count``          length of the Halton(2, 3) jitter cycle
``jitter_start_phase``          the cycle's phase at frame 0; frame ``i`` uses ``(start + i) % count``
``frames[i].jitter_phase``      that phase, per frame
``display_width``,              the display (output) size of temporal upscaling; the reference planes have
``display_height``              this size, the other planes the render size ``width`` x ``height``. (An EXR
                                holds planes of one size, so when the sizes differ each frame's reference is
                                in its own file ``reference_NNNN.exr``, named by ``frames[i].reference_file``;
                                at equal sizes it stays in ``frame_NNNN.exr``, as before.) Written
                                by every writer since the upscaling modes; a file without them has display
                                size = render size (:attr:`Sequence.display_width` then equals ``width``)
==============================  ===========================================================================
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.io.exr import read_exr, write_exr

FORMAT_NAME = "qwplugin-sequence"
FORMAT_VERSION = 1
METADATA_FILE = "sequence.json"
CONVENTIONS = ("Arrays top-down (row 0 = top). color/reference: linear HDR RGB. motion_px: render pixels, "
               "from the current pixel to where it was in the previous frame (previous = current + motion), "
               "jitter removed, +x right, +y down. jitter_px: offset of the pixel's sample point from its "
               "centre in render pixels, +x right, +y down, in [-0.5, 0.5]. depth: linear view depth. "
               "Matrices: column-vector convention, projection unjittered; reset: history must be dropped.")


@dataclass
class Sequence:
    """A sequence read back from disk.

    Attributes:
        color: (T, H, W, 3) float32 aliased jittered colour (render size).
        reference: (T, Hd, Wd, 3) float32 at the display size (= the render size unless upscaling), or
            None when the sequence has no reference.
        motion_px: (T, H, W, 2) float32.
        depth_view: (T, H, W) float32.
        jitter_px: (T, 2) float64; time_s: (T,) float64; reset: (T,) bool.
        view, projection, jittered_projection: (T, 4, 4) float64.
        scene, width, height, spp, fps: from the metadata; meta: the whole JSON dict.
        input_mip_bias, reference_mip_bias, reference_sample_mip_bias: texture LOD biases (float), or None
            for a file written without them.
        jitter_phase_count, jitter_start_phase: the Halton cycle length and frame 0's phase (int), or None.
        jitter_phase: (T,) int64 Halton phase per frame, or None.
        display_width, display_height: the display size (the reference's); equal to ``width``/``height``
            for native sequences and for files written before upscaling.
    """

    color: np.ndarray
    reference: np.ndarray | None
    motion_px: np.ndarray
    depth_view: np.ndarray
    jitter_px: np.ndarray
    time_s: np.ndarray
    reset: np.ndarray
    view: np.ndarray
    projection: np.ndarray
    jittered_projection: np.ndarray
    scene: str
    width: int
    height: int
    spp: int
    fps: float
    meta: dict = field(repr=False, default_factory=dict)
    input_mip_bias: float | None = None
    reference_mip_bias: float | None = None
    reference_sample_mip_bias: float | None = None
    jitter_phase_count: int | None = None
    jitter_start_phase: int | None = None
    jitter_phase: np.ndarray | None = None
    display_width: int | None = None
    display_height: int | None = None

    def __post_init__(self):
        if self.display_width is None:
            self.display_width = self.width
        if self.display_height is None:
            self.display_height = self.height

    @property
    def render_size(self) -> tuple[int, int]:
        """``(width, height)`` of colour, motion and depth."""
        return self.width, self.height

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` of the reference (the output of an upscaler)."""
        return self.display_width, self.display_height

    def __len__(self) -> int:
        return len(self.time_s)


def _check_image(name: str, array, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != shape:
        raise InvalidArgument(f"{name} has the wrong shape", field=name, expected=str(shape), actual=str(array.shape))
    if array.dtype.kind != "f":
        raise InvalidArgument(f"{name} must be floating point", field=name, expected="float16/32/64",
                              actual=str(array.dtype))
    if not np.isfinite(array).all():
        raise InvalidArgument(f"{name} contains NaN or Inf", field=name, expected="finite values",
                              actual="non-finite values")
    return array


def _optional_float(name: str, value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name} must be a number", field=name, expected="finite float",
                              actual=repr(value)) from exc
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite", field=name, expected="finite float", actual=repr(value))
    return value


def _matrix(name: str, m) -> list[list[float]]:
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (4, 4):
        raise InvalidArgument(f"{name} must be 4x4", field=name, expected="(4, 4)", actual=str(m.shape))
    return m.tolist()


class SequenceWriter:
    """Writes one sequence folder frame by frame; ``sequence.json`` is rewritten after every frame so a
    partial sequence stays readable.

    Args:
        path: the folder (created if missing; must not already hold a sequence unless ``overwrite``).
        scene: scene name; width, height: render size; spp: reference samples per pixel (0: none);
        fps: frames per second of the time step.
        overwrite: allow replacing an existing sequence.
        input_mip_bias, reference_mip_bias, reference_sample_mip_bias: texture LOD biases of the aliased
            colour, of the reference (base) and of each reference sub-sample; recorded when given.
        jitter_phase_count, jitter_start_phase: the Halton cycle length and frame 0's phase; recorded when
            given (both or neither).
        display_size: ``(width, height)`` of the reference (temporal upscaling), 1 to 3 times the render
            size per axis; None = the render size. Always recorded as ``display_width``/``display_height``.

    Raises:
        InvalidArgument: bad size or display size, non-finite bias, a start phase outside the cycle or given without the
            cycle length, or ``path`` already holds a sequence and ``overwrite`` is False.
    """

    def __init__(self, path: str | os.PathLike, scene: str, width: int, height: int, spp: int, fps: float,
                 overwrite: bool = False, *, input_mip_bias: float | None = None,
                 reference_mip_bias: float | None = None, reference_sample_mip_bias: float | None = None,
                 jitter_phase_count: int | None = None, jitter_start_phase: int | None = None,
                 display_size: tuple[int, int] | None = None):
        self.path = Path(path)
        if width < 1 or height < 1:
            raise InvalidArgument("size must be positive", field="width/height", expected=">= 1",
                                  actual=f"{width}x{height}")
        if display_size is None:
            display_size = (int(width), int(height))
        else:
            from qwplugin.upscale import scale_of

            scale_of((int(width), int(height)), display_size)  # validates (field display_size)
        optional = {name: _optional_float(name, v) for name, v in (
            ("input_mip_bias", input_mip_bias), ("reference_mip_bias", reference_mip_bias),
            ("reference_sample_mip_bias", reference_sample_mip_bias))}
        if (jitter_phase_count is None) != (jitter_start_phase is None):
            raise InvalidArgument("jitter_phase_count and jitter_start_phase go together",
                                  field="jitter_phase_count/jitter_start_phase", expected="both or neither",
                                  actual=f"{jitter_phase_count!r}/{jitter_start_phase!r}")
        if jitter_phase_count is not None:
            if int(jitter_phase_count) < 1 or not 0 <= int(jitter_start_phase) < int(jitter_phase_count):
                raise InvalidArgument("jitter start phase outside the cycle", field="jitter_start_phase",
                                      expected="0..phase_count - 1 with phase_count >= 1",
                                      actual=f"{jitter_start_phase!r} of {jitter_phase_count!r}")
            optional["jitter_phase_count"] = int(jitter_phase_count)
            optional["jitter_start_phase"] = int(jitter_start_phase)
        if (self.path / METADATA_FILE).exists() and not overwrite:
            raise InvalidArgument("output folder already holds a sequence", field="path",
                                  expected="an empty or new folder (or overwrite=True)", actual=str(self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        self.meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "scene": scene, "width": int(width),
                     "height": int(height), "display_width": int(display_size[0]),
                     "display_height": int(display_size[1]), "spp": int(spp), "fps": float(fps),
                     "conventions": CONVENTIONS,
                     **{k: v for k, v in optional.items() if v is not None}, "frames": []}
        self._closed = False

    def add_frame(self, color, motion_px, depth_view, *, time_s: float, jitter_px, reset: bool, view,
                  projection, jittered_projection=None, reference=None, jitter_phase: int | None = None) -> Path:
        """Write one frame.

        Args:
            color: (H, W, 3) float linear HDR aliased colour.
            motion_px: (H, W, 2) float contract motion vectors.
            depth_view: (H, W) float linear view depth.
            time_s: frame time; jitter_px: (x, y); reset: drop history at this frame.
            view, projection: (4, 4) world->view and unjittered projection; jittered_projection: optional.
            reference: (display H, display W, 3) float, required when the writer's ``spp`` > 0.
            jitter_phase: the Halton phase ``jitter_px`` came from (recorded when given; within the cycle
                when the writer was given ``jitter_phase_count``).

        Returns:
            the EXR path written.

        Raises:
            InvalidArgument: wrong shapes/dtypes, non-finite values, reference missing or unexpected, a
                jitter phase outside the cycle.
            InvalidOperation: after :meth:`close`.
        """
        if self._closed:
            raise InvalidOperation("add_frame() after close()")
        count = self.meta.get("jitter_phase_count")
        if jitter_phase is not None and not 0 <= int(jitter_phase) < (count or 2 ** 31):
            raise InvalidArgument("jitter_phase outside the cycle", field="jitter_phase",
                                  expected=f"0..{(count or 2 ** 31) - 1}", actual=repr(jitter_phase))
        h, w = self.meta["height"], self.meta["width"]
        color = _check_image("color", color, (h, w, 3))
        motion_px = _check_image("motion_px", motion_px, (h, w, 2))
        depth_view = _check_image("depth_view", depth_view, (h, w))
        if (reference is None) != (self.meta["spp"] == 0):
            raise InvalidArgument("reference must be given exactly when spp > 0", field="reference",
                                  expected="an (H, W, 3) array" if self.meta["spp"] else "None",
                                  actual="None" if reference is None else "an array")
        jx, jy = (float(v) for v in jitter_px)
        index = len(self.meta["frames"])
        name = f"frame_{index:04d}.exr"
        planes = {f"color.{c}": color[..., i].astype(np.float16) for i, c in enumerate("RGB")}
        reference_file = None
        if reference is not None:
            dh, dw = self.meta["display_height"], self.meta["display_width"]
            reference = _check_image("reference", reference, (dh, dw, 3))
            ref_planes = {f"reference.{c}": reference[..., i].astype(np.float16) for i, c in enumerate("RGB")}
            if (dh, dw) == (h, w):
                planes.update(ref_planes)
            else:  # one EXR holds planes of one size: the display-size reference gets its own file
                reference_file = f"reference_{index:04d}.exr"
                write_exr(self.path / reference_file, ref_planes, half=False)
        planes["motion.X"] = motion_px[..., 0].astype(np.float16)
        planes["motion.Y"] = motion_px[..., 1].astype(np.float16)
        planes["depth.Z"] = depth_view.astype(np.float32)
        write_exr(self.path / name, planes, half=False)
        record = {
            "index": index, "file": name, "time_s": float(time_s), "jitter_px": [jx, jy], "reset": bool(reset),
            "view": _matrix("view", view), "projection": _matrix("projection", projection),
            "jittered_projection": _matrix("jittered_projection",
                                           projection if jittered_projection is None else jittered_projection),
        }
        if jitter_phase is not None:
            record["jitter_phase"] = int(jitter_phase)
        if reference_file is not None:
            record["reference_file"] = reference_file
        self.meta["frames"].append(record)
        self._write_meta()
        return self.path / name

    def _write_meta(self) -> None:
        tmp = self.path / (METADATA_FILE + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=1))
        os.replace(tmp, self.path / METADATA_FILE)

    def close(self) -> None:
        """Finish the sequence (writes the metadata once more). Idempotent."""
        if not self._closed:
            self._write_meta()
            self._closed = True

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_sequence(path: str | os.PathLike) -> Sequence:
    """Read a sequence folder written by :class:`SequenceWriter` into float32 arrays.

    Raises:
        InvalidArgument: missing folder or metadata, wrong format/version, missing frame file or plane.
    """
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise InvalidArgument("not a sequence folder (no sequence.json)", field="path",
                              expected=f"a folder holding {METADATA_FILE}", actual=str(path))
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{meta_path}: bad JSON: {exc}", field="sequence.json", expected="JSON",
                              actual=str(exc)) from exc
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise InvalidArgument(f"{meta_path}: unsupported sequence format", field="format/version",
                              expected=f"{FORMAT_NAME} v{FORMAT_VERSION}",
                              actual=f"{meta.get('format')} v{meta.get('version')}")
    frames = meta["frames"]
    h, w, t = meta["height"], meta["width"], len(frames)
    dh, dw = meta.get("display_height", h), meta.get("display_width", w)
    has_ref = meta["spp"] > 0
    color = np.zeros((t, h, w, 3), np.float32)
    reference = np.zeros((t, dh, dw, 3), np.float32) if has_ref else None
    motion = np.zeros((t, h, w, 2), np.float32)
    depth = np.zeros((t, h, w), np.float32)
    for i, frame in enumerate(frames):
        planes = read_exr(path / frame["file"])
        if has_ref and "reference_file" in frame:
            planes = {**planes, **read_exr(path / frame["reference_file"])}
        try:
            color[i] = np.stack([planes[f"color.{c}"] for c in "RGB"], axis=-1)
            if has_ref:
                reference[i] = np.stack([planes[f"reference.{c}"] for c in "RGB"], axis=-1)
            motion[i] = np.stack([planes["motion.X"], planes["motion.Y"]], axis=-1)
            depth[i] = planes["depth.Z"]
        except KeyError as exc:
            raise InvalidArgument(f"{path / frame['file']}: missing plane {exc}", field=f"frames[{i}]",
                                  expected="color, reference (if spp > 0), motion, depth planes",
                                  actual=", ".join(sorted(planes))) from exc
    return Sequence(
        color=color, reference=reference, motion_px=motion, depth_view=depth,
        jitter_px=np.array([f["jitter_px"] for f in frames], np.float64).reshape(t, 2),
        time_s=np.array([f["time_s"] for f in frames], np.float64),
        reset=np.array([f["reset"] for f in frames], bool),
        view=np.array([f["view"] for f in frames], np.float64).reshape(t, 4, 4),
        projection=np.array([f["projection"] for f in frames], np.float64).reshape(t, 4, 4),
        jittered_projection=np.array([f["jittered_projection"] for f in frames], np.float64).reshape(t, 4, 4),
        scene=meta["scene"], width=w, height=h, spp=meta["spp"], fps=meta["fps"], meta=meta,
        input_mip_bias=meta.get("input_mip_bias"), reference_mip_bias=meta.get("reference_mip_bias"),
        reference_sample_mip_bias=meta.get("reference_sample_mip_bias"),
        jitter_phase_count=meta.get("jitter_phase_count"), jitter_start_phase=meta.get("jitter_start_phase"),
        jitter_phase=(np.array([f["jitter_phase"] for f in frames], np.int64)
                      if frames and all("jitter_phase" in f for f in frames) else None),
        display_width=dw, display_height=dh)
