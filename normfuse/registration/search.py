"""The coarse search: a wide grid of rotations and scales, every translation at once by FFT correlation.

The score of :mod:`~normfuse.registration.similarity` is a dot product of
doubled-angle vectors, ``(a . b)^2 - |a|^2 |b|^2 / 2 = 0.5 (ax^2 - ay^2)(bx^2 - by^2)
+ 2 ax ay bx by``, so its sum over the frame for every shift of the IR image is
two cross-correlations, computed with FFTs, one batch of all scales per rotation.
The IR image's doubled-angle channels are computed once and resampled for each
rotation and scale (a zoom leaves the normalised gradients unchanged); the
rotation of the gradient directions is applied to the visible channels, once
per rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .similarity import gradient_scale, ngf
from .transforms import apply_matrix, pixel_grid, sample, similarity_matrix

__all__ = ["Candidate", "coarse_search"]

#: Candidates kept by :func:`coarse_search` are further apart than this fraction of the translation range.
SEPARATION = 0.25


@dataclass
class Candidate:
    """One start of the refinement: a visible-level -> IR-level matrix and its coarse score."""

    matrix: np.ndarray
    score: float


def _channels(n: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)`` NGF -> ``(B, 2, H, W)``: ``(nx^2 - ny^2, 2 nx ny) / sqrt(2)`` (the doubled angle).

    The dot product of two such vectors is ``(a . b)^2 - |a|^2 |b|^2 / 2``, the
    score of :func:`~normfuse.registration.similarity.ngf_score`.
    """
    nx, ny = n[:, :1], n[:, 1:]
    return torch.cat([nx * nx - ny * ny, 2 * nx * ny], 1) * (0.5 ** 0.5)


def _warped_channels(ir_channels: torch.Tensor, mats: list[np.ndarray], canvas: tuple[int, int],
                     pad: int) -> torch.Tensor:
    """The IR image's doubled-angle NGF channels ``(1, 2, hi, wi)`` resampled on the canvas through each matrix.

    Returns ``(K, 2, Hc, Wc)``. The channels are resampled, not recomputed: a zoom
    leaves the NGF unchanged (its ``eps`` scales with the gradients), and the
    rotation is applied to the visible side (see :func:`_rotated`). The channels
    are zero outside the IR data (eroded by a pixel), and so is the padding.
    """
    grid = pixel_grid(*canvas) - pad  # canvas pixel -> visible-level coordinate
    coords = apply_matrix(torch.from_numpy(np.stack(mats)), grid, projective=False)
    return sample(ir_channels.expand(len(mats), -1, -1, -1), coords)


def _rotated(channels: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Visible channels turned so that their dot product with IR channels seen through a rotation is the score.

    Seen through a rotation by ``a``, the IR gradients turn by ``-a`` and their
    doubled angle by ``-2a``: ``v . R(-2a) w = (R(2a) v) . w``.
    """
    t = np.deg2rad(2 * angle_deg)
    c, s = float(np.cos(t)), float(np.sin(t))
    v1, v2 = channels[:, :1], channels[:, 1:]
    return torch.cat([c * v1 - s * v2, s * v1 + c * v2], 1)


def coarse_search(vis_n: torch.Tensor, ir: torch.Tensor, ir_mask: torch.Tensor,
                  angles: np.ndarray, scales: np.ndarray, pad: int, keep: int = 3) -> list[Candidate]:
    """The ``keep`` best distinct similarity transforms of a rotation x scale x translation grid.

    Args:
        vis_n: ``(1, 2, h, w)`` NGF of the visible image (at the coarse level).
        ir: ``(1, 1, hi, wi)`` IR image at the coarse level; ``ir_mask`` its data mask.
        angles: rotations in degrees; ``scales``: IR-level pixels per visible-level pixel.
        pad: translations of up to ``pad`` visible-level pixels either way are searched.
        keep: number of candidates returned (best first), at least ``SEPARATION * pad`` pixels apart.
    """
    h, w = vis_n.shape[-2:]
    hi, wi = ir.shape[-2:]
    canvas = (h + 2 * pad, w + 2 * pad)
    vis_channels = _channels(vis_n)
    cv, ci = ((w - 1) / 2, (h - 1) / 2), ((wi - 1) / 2, (hi - 1) / 2)
    combos = [(a, s) for a in angles for s in scales]
    ir_channels = _channels(ngf(ir, gradient_scale(ir, ir_mask), ir_mask))
    best: list[tuple[float, int, int, int]] = []
    for ia, angle in enumerate(angles):  # one batch per rotation: all scales
        fa = torch.fft.rfft2(_rotated(vis_channels, float(angle)), s=canvas)
        mats = [similarity_matrix(angle, s, cv, ci) for s in scales]
        fb = torch.fft.rfft2(_warped_channels(ir_channels, mats, canvas, pad))
        corr = torch.fft.irfft2((fa.conj() * fb).sum(1), s=canvas)[:, : 2 * pad + 1, : 2 * pad + 1]
        corr = corr / float(h * w)
        for j in range(len(mats)):
            flat = corr[j].flatten()
            for idx in torch.topk(flat, min(3, flat.numel())).indices.tolist():
                ty, tx = divmod(idx, 2 * pad + 1)
                best.append((float(flat[idx]), ia * len(scales) + j, tx - pad, ty - pad))
    best.sort(key=lambda b: -b[0])
    out: list[Candidate] = []
    for score, j, tx, ty in best:
        a, s = combos[j]
        m = similarity_matrix(a, s, cv, ci) @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=np.float64)
        if all(_corner_distance(m, c.matrix, h, w) > max(2.0, SEPARATION * pad) for c in out):
            out.append(Candidate(m, score))
        if len(out) >= keep:
            break
    return out


def _corner_distance(a: np.ndarray, b: np.ndarray, h: int, w: int) -> float:
    """Largest distance between where the two matrices send the visible frame's corners (IR-level pixels)."""
    pts = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64).T
    pa, pb = a @ pts, b @ pts
    return float(np.abs(pa[:2] / pa[2] - pb[:2] / pb[2]).max())
