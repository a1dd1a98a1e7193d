"""Tiled application of an image-to-image function with bounded memory.

The NormFuse network is local: each output pixel depends only on input pixels
within its receptive field (a radius of about 14 pixels for the default
configuration).  Tiles are therefore processed with a margin of context around
them and only their centres are kept, so the stitched result has no seams and
matches the whole-image result up to floating-point rounding, as long as the
margin is at least the receptive-field radius.

Examples:
    >>> import torch
    >>> x = torch.rand(1, 1, 50, 70)
    >>> y = tiled_map(lambda a, b: a + b, x, x, tile=32, margin=4)
    >>> torch.equal(y, x + x)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

__all__ = ["tile_grid", "tiled_map"]


def tile_grid(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(y0, y1, x0, x1)`` of non-overlapping tiles of at most ``tile`` x ``tile`` covering the image."""
    if tile < 1:
        raise ValueError(f"tile must be positive, got {tile}")
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield y0, min(y0 + tile, height), x0, min(x0 + tile, width)


def tiled_map(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    a: torch.Tensor,
    b: torch.Tensor,
    tile: int = 1024,
    margin: int = 32,
) -> torch.Tensor:
    """Apply ``fn(a_tile, b_tile) -> out_tile`` tile by tile and stitch the results.

    Args:
        fn: maps two ``(B, C, h, w)`` tiles to one ``(B, C_out, h, w)`` tile.
        a: ``(B, C, H, W)`` first input (any device).
        b: ``(B, C, H, W)`` second input, same height and width as ``a``.
        tile: side of the kept part of each tile.
        margin: context added on every side of a tile (clipped at the image border).

    Returns:
        ``(B, C_out, H, W)`` float32 on the device of ``a``; only one tile's
        intermediate results are alive at a time.
    """
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"tiled_map needs equal sizes, got {tuple(a.shape)} and {tuple(b.shape)}")
    h, w = a.shape[-2:]
    out: torch.Tensor | None = None
    for y0, y1, x0, x1 in tile_grid(h, w, tile):
        ya, yb = max(y0 - margin, 0), min(y1 + margin, h)
        xa, xb = max(x0 - margin, 0), min(x1 + margin, w)
        res = fn(a[..., ya:yb, xa:xb], b[..., ya:yb, xa:xb])
        if out is None:
            out = torch.empty((a.shape[0], res.shape[1], h, w), dtype=torch.float32, device=a.device)
        out[..., y0:y1, x0:x1] = res[..., y0 - ya : y0 - ya + (y1 - y0), x0 - xa : x0 - xa + (x1 - x0)].float()
    assert out is not None
    return out
