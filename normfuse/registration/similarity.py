"""The cross-modal similarity: normalised gradient fields (NGF) with a squared cosine.

For two images ``a`` and ``b`` on the same grid, each gradient ``g`` becomes
``n = g / sqrt(|g|^2 + eps^2)`` (``eps`` a per-image gradient scale, so that
noise and flat areas count little), and the score is

    S = sum over valid pixels of [(n_a . n_b)^2 - |n_a|^2 |n_b|^2 / 2]  /  (number of pixels of the visible frame)

The square makes an edge count whether its contrast is the same or flipped
(a warm person is bright in IR and may be dark in the visible image); the
chance level of the squared cosine (1/2) is subtracted, so that unrelated
edges add nothing (without it, minifying the IR image raised the score by
packing more edges into the frame: measured as a bias of a few pixels); dividing
by the fixed visible-frame area, not by the overlap, makes losing overlap cost.
Zero-filled borders (pixels with no data) are masked, with the gradients next
to them, so that the edge of a black border is never matched.

Examples:
    >>> import torch
    >>> img = torch.zeros(1, 1, 32, 32); img[..., 8:24, 8:24] = 1.0
    >>> n = ngf(img, eps=0.05)
    >>> round(float(ngf_score(n, 1 - n)), 3) > 0   # contrast flipped: the same edges
    True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..io import LUMA_WEIGHTS, to_gray

__all__ = ["gray_float", "nodata_mask", "erode", "ngf", "gradient_scale", "ngf_score", "agreement", "resize_to"]


def gray_float(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A grey ``(1, 1, H, W)`` float32 tensor in [0, 1] from an array (uint8, uint16, float) or a prepared tensor."""
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        while t.ndim < 4:
            t = t[None]
        if t.shape[1] == 3:
            w = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
            t = (t * w).sum(1, keepdim=True)
        return t[:1, :1].contiguous()
    arr = np.asarray(image)
    if arr.ndim == 3:  # colour (an alpha channel left out) or grey + alpha
        arr = arr[..., :3] if arr.shape[2] >= 3 else arr[..., 0]
    return torch.from_numpy(np.ascontiguousarray(to_gray(arr)))[None, None]


def nodata_mask(image: torch.Tensor) -> torch.Tensor:
    """``(1, 1, H, W)`` bool: True where there is data (pixels not in a zero-valued region touching the border).

    A real warp fills the area it does not cover with zeros; such regions touch
    the image border. Zero pixels inside the image (a cold object) are kept.
    """
    from scipy import ndimage

    zero = (image[0, 0] <= 1e-6).numpy()
    if not zero.any():
        return torch.ones_like(image, dtype=torch.bool)
    labels, _ = ndimage.label(zero)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    nodata = np.isin(labels, border)
    return torch.from_numpy(~nodata)[None, None]


def erode(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Shrink a ``(B, 1, H, W)`` bool or 0/1 mask by ``pixels`` (a square neighbourhood)."""
    if pixels <= 0 or bool(mask.all()):  # (the frame's outside does not count: a full mask stays full)
        return mask.bool()
    k = 2 * pixels + 1
    return (-F.max_pool2d(-(mask.float()), k, stride=1, padding=pixels)) > 0.5


def _gradients(image: torch.Tensor) -> torch.Tensor:
    """Central-difference gradients ``(B, 2, H, W)`` (x then y) of ``(B, 1, H, W)``, zero at the border."""
    gx = torch.zeros_like(image)
    gy = torch.zeros_like(image)
    gx[..., :, 1:-1] = (image[..., :, 2:] - image[..., :, :-2]) * 0.5
    gy[..., 1:-1, :] = (image[..., 2:, :] - image[..., :-2, :]) * 0.5
    return torch.cat([gx, gy], 1)


def gradient_scale(image: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """The ``eps`` of :func:`ngf` for an image: the mean gradient magnitude over its (valid) pixels, at least 1e-3."""
    d = _gradients(image)
    g = torch.sqrt((d * d).sum(1, keepdim=True))  # (faster than Tensor.norm over the channel dimension)
    if mask is not None:
        m = erode(mask, 1)
        g = g[m] if bool(m.any()) else g.flatten()
    return max(float(g.mean()), 1e-3)


def ngf(image: torch.Tensor, eps: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The normalised gradient field ``(B, 2, H, W)`` of ``(B, 1, H, W)``; zero where ``mask`` (eroded by 1) is False."""
    g = _gradients(image)
    n = g / torch.sqrt((g * g).sum(1, keepdim=True) + eps * eps)
    if mask is not None:
        n = n * erode(mask, 1).to(n.dtype)
    return n


def ngf_score(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B,)`` mean over the (whole) frame of ``(n_a . n_b)^2 - |n_a|^2 |n_b|^2 / 2``; ``a``, ``b`` from :func:`ngf`.

    The squared cosine minus its chance level (1/2 for unrelated directions):
    unrelated edges add nothing on average, so a transform cannot gain by
    packing more edges into the frame (minifying one image) or by chance.
    """
    d = (a * b).sum(1)
    w = (a * a).sum(1) * (b * b).sum(1)
    return (d * d - 0.5 * w).flatten(1).mean(1)


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """The weighted mean squared cosine between the edges of ``a`` and ``b`` (NGF maps) in [0, 1].

    ``sum((n_a . n_b)^2) / sum(|n_a|^2 |n_b|^2)``: 1 when every edge of one
    image lies along an edge of the other, about 0.5 for unrelated images
    (random directions), 0 when there are no common edges at all.
    """
    d = (a * b).sum(1)
    w = (a * a).sum(1) * (b * b).sum(1)
    total = float(w.sum())
    return float((d * d).sum()) / total if total > 1e-9 else 0.0


def resize_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of ``(B, C, H, W)`` to ``size`` ``(h, w)`` (no-op for the same size)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
