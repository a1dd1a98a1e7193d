"""Classical fusion baselines for context: average, maximum and Laplacian-pyramid fusion.

Each baseline takes two ``(H, W)`` float arrays in [0, 1] and returns the fused
``(H, W)`` float64 array in [0, 1].

Examples:
    >>> import numpy as np
    >>> a, b = np.zeros((8, 8)), np.ones((8, 8))
    >>> float(average(a, b).mean()), float(maximum(a, b).mean())
    (0.5, 1.0)
    >>> laplacian_pyramid(a, b).shape
    (8, 8)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["BASELINES", "average", "maximum", "laplacian_pyramid"]


def average(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Pixel-wise mean."""
    return (np.asarray(ir, np.float64) + np.asarray(vis, np.float64)) / 2


def maximum(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Pixel-wise maximum."""
    return np.maximum(np.asarray(ir, np.float64), np.asarray(vis, np.float64))


def _gaussian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    from skimage.transform import pyramid_reduce

    pyr = [img]
    for _ in range(levels - 1):
        if min(pyr[-1].shape) < 8:
            break
        pyr.append(pyramid_reduce(pyr[-1], downscale=2, preserve_range=True))
    return pyr


def _laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    from skimage.transform import resize

    g = _gaussian_pyramid(img, levels)
    lap = [g[k] - resize(g[k + 1], g[k].shape, order=1, preserve_range=True) for k in range(len(g) - 1)]
    return lap + [g[-1]]


def laplacian_pyramid(ir: np.ndarray, vis: np.ndarray, levels: int = 5) -> np.ndarray:
    """Laplacian-pyramid fusion (Burt & Adelson): band-pass levels by largest magnitude, base by average."""
    from skimage.transform import resize

    pa = _laplacian_pyramid(np.asarray(ir, np.float64), levels)
    pb = _laplacian_pyramid(np.asarray(vis, np.float64), levels)
    fused = [np.where(np.abs(x) >= np.abs(y), x, y) for x, y in zip(pa[:-1], pb[:-1])]
    out = (pa[-1] + pb[-1]) / 2
    for band in reversed(fused):
        out = resize(out, band.shape, order=1, preserve_range=True) + band
    return np.clip(out, 0, 1)


#: Name -> function of the built-in baselines.
BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "average": average,
    "maximum": maximum,
    "laplacian": laplacian_pyramid,
}
