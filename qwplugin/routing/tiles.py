"""Per-tile and per-pixel routing with batched gather/scatter, so the heavy path runs only where chosen.

Per tile (heavy paths with a receptive field, e.g. a U-Net): the frame is cut into ``tile`` x ``tile``
tiles (the last row/column padded); the chosen tiles are gathered *with a halo* of ``halo`` pixels on
every side into one (K, C, tile + 2 halo, tile + 2 halo) batch, the heavy path runs on that batch (in
chunks of ``max_batch``), the halo is cropped off and the tiles are written into the light output.

Exactness: a heavy path whose output at a pixel depends only on input pixels within ``R`` of it
(receptive-field radius R, in input pixels) gives on every chosen tile exactly its full-frame output when
``halo >= R`` and the tile's halo lies inside the frame. At the frame border it is exact too when the
heavy path handles borders by padding its *input* with ``pad_mode`` (e.g. replicate-pad by R, then
'valid' convolutions); a net that zero-pads every layer differs from its full-frame self within R of the
frame border. For heavy paths with a larger receptive field than the halo (a deep U-Net) the result is
an approximation that improves with the halo.

Per pixel (1x1 heads such as PCSR's MLP samplers): :func:`route_pixels` gathers the feature vectors of
the hard pixels, runs the heavy head on them only, and scatters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument

PAD_MODES = ("replicate", "reflect", "constant")


def tile_grid(height: int, width: int, tile: int) -> tuple[int, int]:
    """Number of tile rows and columns covering a ``height`` x ``width`` frame (the last ones partial)."""
    return -(-height // tile), -(-width // tile)


def _check(x: torch.Tensor, tile: int, halo: int, pad_mode: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise InvalidArgument("x must be a (N, C, H, W) tensor", field="x", expected="4 dimensions",
                              actual=str(getattr(x, "shape", type(x).__name__)))
    if tile < 1 or halo < 0:
        raise InvalidArgument("tile must be >= 1 and halo >= 0", field="tile", expected="tile >= 1, halo >= 0",
                              actual=f"tile {tile}, halo {halo}")
    if pad_mode not in PAD_MODES:
        raise InvalidArgument("unknown pad mode", field="pad_mode", expected=" / ".join(PAD_MODES), actual=pad_mode)


def mask_to_index(mask: torch.Tensor) -> torch.Tensor:
    """(N, th, tw) bool tile mask -> (K, 3) int64 rows ``[n, ty, tx]`` of the chosen tiles, in raster order."""
    return mask.nonzero(as_tuple=False)


def gather_tiles(x: torch.Tensor, index: torch.Tensor, tile: int, halo: int,
                 pad_mode: str = "replicate") -> torch.Tensor:
    """The chosen tiles of ``x`` with a halo, as one batch.

    Args:
        x: (N, C, H, W).
        index: (K, 3) int64 ``[n, ty, tx]`` (see :func:`mask_to_index`).
        tile: tile size in pixels.
        halo: pixels added on each side.
        pad_mode: how pixels outside the frame are filled ("replicate", "reflect", "constant" = zeros).

    Returns:
        (K, C, tile + 2 halo, tile + 2 halo).

    Raises:
        InvalidArgument: bad shapes or arguments.
    """
    _check(x, tile, halo, pad_mode)
    n, c, h, w = x.shape
    th, tw = tile_grid(h, w, tile)
    pad = (halo, tw * tile - w + halo, halo, th * tile - h + halo)
    if pad_mode == "reflect" and max(pad) >= min(h, w):
        raise InvalidArgument("reflect padding needs halo + tile padding < frame size", field="halo",
                              expected=f"< {min(h, w)}", actual=str(max(pad)))
    xp = F.pad(x, pad, mode=pad_mode) if any(pad) else x
    size = tile + 2 * halo
    windows = xp.unfold(2, size, tile).unfold(3, size, tile)  # (N, C, th, tw, size, size), a view
    return windows[index[:, 0], :, index[:, 1], index[:, 2]]  # (K, C, size, size)


def scatter_tiles(base: torch.Tensor, tiles: torch.Tensor, index: torch.Tensor, tile: int) -> torch.Tensor:
    """Write (K, C, tile, tile) ``tiles`` into a copy of ``base`` (N, C, H, W) at the tile positions
    ``index`` (partial tiles at the right/bottom are cropped). Returns the new tensor."""
    n, c, h, w = base.shape
    th, tw = tile_grid(h, w, tile)
    out = base.new_zeros(n, c, th * tile, tw * tile)
    out[:, :, :h, :w] = base
    if index.numel():
        view = out.view(n, c, th, tile, tw, tile)
        view[index[:, 0], :, index[:, 1], :, index[:, 2], :] = tiles.to(out.dtype)
    return out[:, :, :h, :w]


def route_tiles(x: torch.Tensor, heavy: Callable[[torch.Tensor], torch.Tensor], light_output: torch.Tensor,
                mask: torch.Tensor, tile: int, halo: int, scale: int = 1, max_batch: int | None = None,
                pad_mode: str = "replicate", full_frame: bool = False) -> torch.Tensor:
    """Heavy path on the chosen tiles only, light output everywhere else.

    Args:
        x: (N, C, H, W) heavy-path input.
        heavy: maps (B, C, P, P) patches (P = tile + 2 halo) to (B, C_out, scale P, scale P).
        light_output: (N, C_out, scale H, scale W), the light path's output for the whole frame.
        mask: (N, th, tw) bool, True = heavy (th, tw from :func:`tile_grid`).
        tile, halo: in input pixels.
        scale: output pixels per input pixel (1 for reconstruction, 2 for x2 upscaling).
        max_batch: at most this many tiles per heavy call (None: all at once).
        pad_mode: as :func:`gather_tiles`.
        full_frame: when the gathered patches would hold at least as many pixels as the frames
            (``K (tile + 2 halo)^2 >= N H W``), run ``heavy`` once on the whole ``x`` instead (it must then
            accept (N, C, H, W) and return (N, C_out, scale H, scale W)) and keep its output on the chosen
            tiles: the heavy cost never exceeds one full-frame call, and with every tile chosen the result
            is exactly the full-frame heavy output.

    Returns:
        (N, C_out, scale H, scale W). With no tile chosen, ``heavy`` is not called and the result equals
        ``light_output``.

    Raises:
        InvalidArgument: shapes that do not fit together; a heavy output of the wrong shape.
    """
    _check(x, tile, halo, pad_mode)
    n, _, h, w = x.shape
    th, tw = tile_grid(h, w, tile)
    if tuple(mask.shape) != (n, th, tw) or mask.dtype != torch.bool:
        raise InvalidArgument("mask must be a bool (N, th, tw) tile mask", field="mask", expected=f"bool {(n, th, tw)}",
                              actual=f"{mask.dtype} {tuple(mask.shape)}")
    if light_output.dim() != 4 or tuple(light_output.shape[2:]) != (scale * h, scale * w) \
            or light_output.shape[0] != n:
        raise InvalidArgument("light output must be (N, C_out, scale H, scale W)", field="light_output",
                              expected=f"({n}, C, {scale * h}, {scale * w})", actual=str(tuple(light_output.shape)))
    index = mask_to_index(mask)
    if index.numel() == 0:
        return light_output.clone()
    if full_frame and index.shape[0] * (tile + 2 * halo) ** 2 >= n * h * w:
        y = heavy(x)
        if tuple(y.shape) != tuple(light_output.shape):
            raise InvalidArgument("heavy path returned the wrong shape on the full frame", field="heavy",
                                  expected=str(tuple(light_output.shape)), actual=str(tuple(y.shape)))
        pixel_mask = mask.repeat_interleave(scale * tile, 1).repeat_interleave(scale * tile, 2)
        pixel_mask = pixel_mask[:, None, :scale * h, :scale * w]
        return torch.where(pixel_mask, y.to(light_output.dtype), light_output)
    patches = gather_tiles(x, index, tile, halo, pad_mode)
    chunk = index.shape[0] if max_batch is None else max(1, max_batch)
    size_out, crop = scale * (tile + 2 * halo), scale * halo
    outs = []
    for start in range(0, index.shape[0], chunk):
        y = heavy(patches[start:start + chunk])
        if y.dim() != 4 or tuple(y.shape[2:]) != (size_out, size_out) or y.shape[1] != light_output.shape[1]:
            raise InvalidArgument("heavy path returned the wrong shape", field="heavy",
                                  expected=f"(B, {light_output.shape[1]}, {size_out}, {size_out})",
                                  actual=str(tuple(y.shape)))
        outs.append(y[:, :, crop:crop + scale * tile, crop:crop + scale * tile])
    return scatter_tiles(light_output, torch.cat(outs), index, scale * tile)


def route_pixels(features: torch.Tensor, hard: torch.Tensor, heavy_head: Callable[[torch.Tensor], torch.Tensor],
                 light_head: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Per-pixel routing of a 1x1 head: each pixel's feature vector goes through exactly one head.

    Args:
        features: (N, C, H, W).
        hard: (N, H, W) bool, True = heavy head.
        heavy_head, light_head: map (P, C) to (P, C_out).

    Returns:
        (N, C_out, H, W).

    Raises:
        InvalidArgument: shapes that do not match.
    """
    if features.dim() != 4 or tuple(hard.shape) != (features.shape[0], *features.shape[2:]):
        raise InvalidArgument("hard must be (N, H, W) of features (N, C, H, W)", field="hard",
                              expected=str((features.shape[0], *features.shape[2:])), actual=str(tuple(hard.shape)))
    flat = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])
    sel = hard.reshape(-1)
    idx_h, idx_l = sel.nonzero().squeeze(1), (~sel).nonzero().squeeze(1)
    parts = [(idx, head(flat[idx])) for idx, head in ((idx_h, heavy_head), (idx_l, light_head)) if idx.numel()]
    c_out = parts[0][1].shape[1]
    out = flat.new_zeros(flat.shape[0], c_out)
    for idx, y in parts:
        out[idx] = y.to(out.dtype)
    n, _, h, w = features.shape
    return out.view(n, h, w, c_out).permute(0, 3, 1, 2)
