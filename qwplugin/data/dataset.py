"""The torch-side dataset: sequences of a dataset folder as training samples and validation blocks.

A dataset folder holds ``index.json`` (:mod:`qwplugin.data.index`) and one sequence folder per entry
(:mod:`qwplugin.io.sequence`). Sequences are decoded from EXR once. With ``storage="mmap"`` (the default)
the decoded arrays are written next to the data, in ``<root>/.cache/<sequence>/<key>.npy``, each in the
smallest dtype that holds it exactly (the colour, reference and motion planes are half floats in the
EXR files, depth float32), and read back memory-mapped: the pages live in the operating system's page
cache, shared by every process reading the same dataset, instead of a float32 copy per process (a
192-sequence 256x192 dataset is ~9.5 GB as float32 per process, ~4.5 GB in the shared cache). A cache
is rebuilt when the sequence's files change (sizes and modification times are recorded); a folder that
cannot be written falls back to ``storage="memory"`` (float32 arrays in this process, as before).
Samples are bit-identical either way.

A *sample* is a window of ``frames`` consecutive frames of one sequence, starting at a uniformly random
frame of it, augmented as one block (:mod:`qwplugin.data.augment`), as tensors::

    color, reference  (T, 3, h, w)  linear HDR
    motion_px         (T, 2, h, w)  contract motion, render pixels
    depth             (T, 1, h, w)  linear view depth
    resets            (T,) bool     the window's first frame is always a reset (it has no history)
    jitter_px         (T, 2)        each frame's sample offset, render pixels (negated on flipped axes,
                                    so it stays true of the flipped images)
    phase             (T,) int64    each frame's Halton(2, 3) phase as rendered, 0..15 (-1: jitter not
                                    on the 16-phase cycle), see :func:`halton_phases`

Upscaling sequences (display size recorded larger than the render size, :mod:`qwplugin.io.sequence`):
``reference`` is at the display size ``(T, 3, H, W)`` and the sample also holds ``display_hw`` (2,) int64
``(H, W)``. A crop of ``c`` render pixels at ``(top, left)`` takes the display crop of ``c * H / h`` pixels at
``(top * H / h, left * W / w)``, the same window of the scene (the origin snapped to whole display pixels,
:func:`qwplugin.data.augment.display_params`; ``c`` must be a multiple of the crop period, 1 at integer
scales). The random draws are those of a native sample, so native datasets sample exactly as before.

Jitter phases: the engine's jitter cycles through 16 Halton phases. A network trained only on windows
that start at phase 0 never sees the other phases at a window's first frames (nor long recurrences).
Random window starts inside sequences longer than the window, and sequences that themselves start at
random phases, put every phase at every window position; :meth:`SequenceDataset.phase_coverage` says
which phases a dataset can put at a window's first frame.

Randomness comes only from the generator passed in, so the trainer's ``default_rng([seed, step])``
makes every batch reproducible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from qwplugin.data.augment import apply_params, apply_upscale_params, crop_period, draw_params
from qwplugin.data.index import read_index
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import read_sequence
from qwplugin.ops.halton import DEFAULT_PHASE_COUNT, jitter_offset_px

SPATIAL_KEYS = ("color", "reference", "motion_px", "depth")
CACHE_DIR = ".cache"
"""Folder inside a dataset root that holds the decoded, memory-mappable arrays (``storage="mmap"``)."""
CACHE_FORMAT = 1
STORAGES = ("mmap", "memory")
PHASE_TOLERANCE_PX = 1e-4
"""A stored jitter within this distance (per axis, pixels) of a Halton point is that point's phase."""


def halton_phases(jitter_px: np.ndarray, phase_count: int = DEFAULT_PHASE_COUNT) -> np.ndarray:
    """Phase (0-based position in the ``phase_count``-long Halton(2, 3) cycle of
    :func:`qwplugin.ops.halton.jitter_offset_px`) of each stored jitter.

    Args:
        jitter_px: (T, 2) jitter offsets in render pixels.
        phase_count: cycle length.

    Returns:
        (T,) int64 phases; -1 where a jitter matches no point of the cycle (another jitter pattern).

    Examples:
        >>> halton_phases(np.array([jitter_offset_px(3), jitter_offset_px(17), (0.01, 0.02)]))
        array([ 3,  1, -1])
    """
    table = np.array([jitter_offset_px(p, phase_count) for p in range(phase_count)], np.float64)
    j = np.asarray(jitter_px, np.float64).reshape(-1, 2)
    dist = np.abs(j[:, None, :] - table[None]).max(axis=2)  # (T, phases)
    best = dist.argmin(axis=1)
    return np.where(dist[np.arange(len(j)), best] <= PHASE_TOLERANCE_PX, best, -1).astype(np.int64)


def to_tensors(block: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A numpy block (``(T, H, W, C)`` arrays, ``resets`` (T,), optional ``jitter_px`` (T, 2) and ``phase``
    (T,)) to ``(T, C, H, W)`` float32 tensors, a ``(T,)`` bool tensor, and (T, 2) float32 / (T,) int64."""
    # np.array copies: the block may be a read-only memory map (storage="mmap")
    out = {k: torch.from_numpy(np.array(block[k], dtype=np.float32)).permute(0, 3, 1, 2).contiguous()
           for k in SPATIAL_KEYS}
    out["resets"] = torch.from_numpy(np.asarray(block["resets"], dtype=bool).copy())
    if "jitter_px" in block:
        out["jitter_px"] = torch.from_numpy(np.array(block["jitter_px"], dtype=np.float32))
    if "phase" in block:
        out["phase"] = torch.from_numpy(np.array(block["phase"], dtype=np.int64))
    return out


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack samples along a new batch axis: ``(N, T, C, H, W)`` and resets ``(N, T)``.

    Raises:
        InvalidArgument: no items, or items of different shapes.
    """
    if not items:
        raise InvalidArgument("cannot collate an empty batch", field="items", expected=">= 1 item", actual="0")
    shapes = {tuple(it["color"].shape) for it in items}
    if len(shapes) != 1:
        raise InvalidArgument("samples of a batch must share one shape", field="items", expected="one shape",
                              actual=str(sorted(shapes)))
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class SequenceDataset:
    """The sequences of one split of a dataset folder.

    Args:
        root: dataset folder (with ``index.json``).
        split: "train" or "val".
        crop: square crop in pixels, None for whole frames.
        frames: frames per sample, None for whole sequences.
        flips: random horizontal / vertical flips.
        exposure_log2_range: exposure multiplier ``2 ** U(-r, r)``; 0 disables it.
        seed: seeds ``ds[i]`` (``default_rng([seed, i])``).
        limit: use at most this many sequences of the split (None: all).
        storage: "mmap" (decoded arrays cached under ``<root>/.cache`` and memory-mapped, shared between
            processes; the default) or "memory" (float32 arrays held by this object).

    Raises:
        InvalidArgument: no index, empty split, unknown storage. A sequence shorter than ``frames``, smaller than ``crop``
            or without a reference is refused when it is first read.
    """

    def __init__(self, root: str | os.PathLike, split: str, crop: int | None = None, frames: int | None = None,
                 flips: bool = False, exposure_log2_range: float = 0.0, seed: int = 0, limit: int | None = None,
                 storage: str = "mmap"):
        if storage not in STORAGES:
            raise InvalidArgument("unknown dataset storage", field="storage", expected=" or ".join(STORAGES),
                                  actual=repr(storage))
        self.storage = storage
        self.root = Path(root)
        self.index = read_index(self.root)
        self.entries = self.index.split(split)
        if limit is not None:
            self.entries = self.entries[:limit]
        if not self.entries:
            raise InvalidArgument(f"dataset has no {split!r} sequences", field="split", expected=">= 1 sequence",
                                  actual=f"0 in {self.root}")
        if frames is not None and frames < 1:
            raise InvalidArgument("frames must be >= 1", field="frames", expected=">= 1", actual=str(frames))
        self.split, self.crop, self.frames = split, crop, frames
        self.flips, self.exposure_log2_range, self.seed = flips, exposure_log2_range, seed
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def block(self, i: int) -> dict[str, np.ndarray]:
        """Sequence ``i`` whole and unaugmented: ``(T, H, W, C)`` arrays (float32, or with ``storage="mmap"``
        read-only memory-mapped float16 / float32 arrays holding exactly the same values), ``resets`` (T,) bool,
        ``jitter_px`` (T, 2) float32 and ``phase`` (T,) int64 (the file's per-frame phases when it records
        them, else :func:`halton_phases` of its jitter).

        The arrays are shared with the cache: do not modify them.

        Raises:
            InvalidArgument: the sequence has no reference, or is shorter than ``frames``.
        """
        if not 0 <= i < len(self.entries):
            raise IndexError(i)
        if i not in self._cache:
            cached = self._read_cache(i) if self.storage == "mmap" else None
            if cached is None:
                cached = self._decode(i)
                if self.storage == "mmap":
                    cached = self._write_cache(i, cached) or cached
            self._check_fits(i, cached)
            self._cache[i] = cached
        return self._cache[i]

    def _decode(self, i: int) -> dict[str, np.ndarray]:
        entry = self.entries[i]
        seq = read_sequence(self.root / entry.name)
        if seq.reference is None:
            raise InvalidArgument("sequence has no reference (rendered with spp 0)", field=entry.name,
                                  expected="spp > 0", actual="spp 0")
        stored = getattr(seq, "jitter_phase", None)  # recorded by newer sequence files
        phase = np.asarray(stored, np.int64) if stored is not None else halton_phases(seq.jitter_px)
        return {"color": seq.color, "reference": seq.reference, "motion_px": seq.motion_px,
                "depth": seq.depth_view[..., None], "resets": seq.reset.copy(),
                "jitter_px": np.asarray(seq.jitter_px, np.float32), "phase": phase}

    def _check_fits(self, i: int, block: dict[str, np.ndarray]) -> None:
        name = self.entries[i].name
        t, h, w = block["color"].shape[:3]
        if self.frames is not None and t < self.frames:
            raise InvalidArgument("sequence is shorter than the frames per sample", field="frames",
                                  expected=f"<= {t} ({name})", actual=str(self.frames))
        if self.crop is not None and self.crop > min(h, w):
            raise InvalidArgument("crop is larger than the frames", field="crop",
                                  expected=f"<= {min(h, w)} ({name})", actual=str(self.crop))
        hd, wd = block["reference"].shape[1:3]
        if self.crop is not None and (hd, wd) != (h, w):
            qy, qx = crop_period(h, hd), crop_period(w, wd)
            if self.crop % qy or self.crop % qx:
                raise InvalidArgument("an upscaling crop must cover whole display pixels", field="crop",
                                      expected=f"a multiple of {max(qy, qx)} for {w}x{h} -> {wd}x{hd} ({name})",
                                      actual=str(self.crop))

    def _source_stamp(self, i: int) -> dict[str, list[int]]:
        folder = self.root / self.entries[i].name
        return {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(folder.iterdir()) if f.is_file()}

    def _cache_folder(self, i: int) -> Path:
        return self.root / CACHE_DIR / self.entries[i].name

    def _read_cache(self, i: int) -> dict[str, np.ndarray] | None:
        folder = self._cache_folder(i)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            if meta.get("format") != CACHE_FORMAT or meta.get("source") != self._source_stamp(i):
                return None
            return {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in meta["keys"]}
        except (OSError, ValueError, KeyError):
            return None

    def _write_cache(self, i: int, block: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Store ``block`` losslessly under the cache folder and return it memory-mapped (None: not writable)."""
        folder = self._cache_folder(i)
        tmp = folder.with_name(f".tmp_{folder.name}_{os.getpid()}")
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            for key, a in block.items():
                if a.dtype == np.float32 and np.array_equal(a.astype(np.float16).astype(np.float32), a):
                    a = a.astype(np.float16)  # exact: the EXR plane was half
                np.save(tmp / f"{key}.npy", a)
            (tmp / "meta.json").write_text(json.dumps({"format": CACHE_FORMAT, "keys": list(block),
                                                       "source": self._source_stamp(i)}))
            if folder.exists():
                import shutil
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        except OSError:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        return self._read_cache(i)

    def preload(self, progress: bool = False) -> None:
        """Read every sequence into memory now (tqdm bar with ``progress``) instead of on first use.

        Raises:
            InvalidArgument: as :meth:`block`.
        """
        from tqdm import tqdm

        for i in tqdm(range(len(self)), desc=f"load {self.split}", unit="seq", disable=not progress):
            self.block(i)

    def phase_coverage(self) -> dict[int, int]:
        """How many (sequence, window start) pairs put each Halton phase at a window's first frame.

        Counts over every sequence (read into memory) and every start a sample can draw; a phase
        missing from the result never starts a training window (-1 counts jitters off the cycle).

        Returns:
            {phase: count}, sorted by phase.
        """
        counts: dict[int, int] = {}
        for i in range(len(self)):
            phase = self.block(i)["phase"]
            t = len(phase) if self.frames is None else self.frames
            for p in phase[:len(phase) - t + 1]:
                counts[int(p)] = counts.get(int(p), 0) + 1
        return dict(sorted(counts.items()))

    def _sample_of(self, i: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        block = self.block(i)
        t_all = len(block["resets"])
        t = t_all if self.frames is None else self.frames
        start = int(rng.integers(0, t_all - t + 1))
        window = {k: block[k][start:start + t] for k in SPATIAL_KEYS}
        h, w = window["color"].shape[1:3]
        params = draw_params(rng, h, w, self.crop, self.flips, self.exposure_log2_range)
        upscaling = window["reference"].shape[1:3] != (h, w)
        # an upscaling sample: the render crop snapped to whole display pixels, the reference's crop aligned
        out = apply_upscale_params(window, params) if upscaling else apply_params(window, params)
        resets = block["resets"][start:start + t].copy()
        resets[0] = True
        out["resets"] = resets
        jitter = block["jitter_px"][start:start + t].copy()
        if params.flip_x:  # a mirrored image samples at the mirrored offset
            jitter[:, 0] *= -1.0
        if params.flip_y:
            jitter[:, 1] *= -1.0
        out["jitter_px"], out["phase"] = jitter, block["phase"][start:start + t].copy()
        tensors = to_tensors(out)
        if upscaling:
            tensors["display_hw"] = torch.tensor(out["reference"].shape[1:3], dtype=torch.int64)
        return tensors

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """Sample of sequence ``i`` drawn from ``default_rng([seed, i])`` (the same every call)."""
        if not 0 <= i < len(self.entries):
            raise IndexError(i)
        return self._sample_of(i, np.random.default_rng([self.seed, i]))

    def sample(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A sample of a sequence chosen uniformly with ``rng``, then its window start (uniform over the
        ``len - frames + 1`` possible starts) and augmentation, all from ``rng``."""
        return self._sample_of(int(rng.integers(0, len(self.entries))), rng)
