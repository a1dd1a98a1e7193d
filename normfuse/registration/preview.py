"""Pictures to check a registration at a glance: checkerboard and edge overlays, before and after.

:func:`overlay` returns one RGB image of two rows, *before* (the IR image
simply stretched onto the visible frame) and *after* (:meth:`Alignment.warp`):

- left, a checkerboard of visible and IR tiles: edges run straight across the
  tile borders when the images are registered, and break at them when not;
- right, the edges of the two images in colour (visible green, IR magenta,
  both white): registered edges are white, misregistered ones doubled.

Pixels without IR data are shown dimmed blue-grey.

Examples:
    >>> from normfuse.io import read_image
    >>> from normfuse.samples import sample_pair_paths
    >>> from normfuse.registration import Alignment
    >>> ir, vis = (read_image(p) for p in sample_pair_paths())
    >>> overlay(ir, vis, Alignment(np.eye(3), "affine", ir.shape, vis.shape)).shape
    (900, 1240, 3)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .alignment import Alignment
from .similarity import gray_float

__all__ = ["overlay", "write_overlay"]


def _edges(g: np.ndarray) -> np.ndarray:
    from skimage.filters import sobel

    e = sobel(g)
    top = np.percentile(e, 98) or 1.0
    return np.clip(e / top, 0, 1)


def _panels(ir_on_vis: np.ndarray, vis: np.ndarray, valid: np.ndarray, tiles: int) -> np.ndarray:
    h, w = vis.shape
    side = max(8, max(h, w) // tiles)
    ys, xs = np.mgrid[0:h, 0:w]
    board = ((ys // side + xs // side) % 2).astype(bool)
    check = np.where(board & valid, ir_on_vis, vis)
    check_rgb = np.repeat(check[..., None], 3, -1)
    ei, ev = _edges(ir_on_vis) * valid, _edges(vis)
    edges = np.stack([ei, ev, ei], -1)
    for img in (check_rgb, edges):
        img[~valid] = img[~valid] * 0.4 + np.array([0.15, 0.2, 0.35])
    return np.concatenate([check_rgb, edges], 1)


def overlay(ir, vis, alignment: Alignment, tiles: int = 8) -> np.ndarray:
    """``(2 * H_vis, 2 * W_vis, 3)`` uint8: before (top) and after (bottom) registration; see the module docstring.

    ``ir`` and ``vis`` are arrays, tensors or paths (colour is shown as its luminance).
    """
    from ..io import read_image

    ir = read_image(ir) if not isinstance(ir, (np.ndarray, torch.Tensor)) else ir
    vis = read_image(vis) if not isinstance(vis, (np.ndarray, torch.Tensor)) else vis
    g_ir, g_vis = gray_float(ir), gray_float(vis)
    alignment.check_sizes(g_ir.shape[-2:], g_vis.shape[-2:])
    size = tuple(g_vis.shape[-2:])
    before = F.interpolate(g_ir, size=size, mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()
    after, valid = alignment.warp_tensor(g_ir)
    v = g_vis[0, 0].numpy()
    top = _panels(before, v, np.ones(size, bool), tiles)
    bottom = _panels(after[0, 0].numpy(), v, valid[0, 0].numpy(), tiles)
    return (np.clip(np.concatenate([top, bottom], 0), 0, 1) * 255).round().astype(np.uint8)


def write_overlay(path, ir, vis, alignment: Alignment, overwrite: bool = True):
    """Write :func:`overlay` to ``path`` (PNG or JPEG, atomically); return the path."""
    from ..io import atomic_write_image

    return atomic_write_image(path, overlay(ir, vis, alignment), overwrite=overwrite)
