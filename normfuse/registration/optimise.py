"""Gradient refinement of a transform at one pyramid level (torch autograd, :class:`torch.optim.Adam`).

The warped IR image is sampled with :func:`torch.nn.functional.grid_sample`,
which is differentiable in the sampling coordinates, so the NGF score of
:mod:`~normfuse.registration.similarity` is maximised directly over the transform's
parameters (global models) or over a coarse displacement grid (deformable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .similarity import erode
from .transforms import N_PARAMS, apply_matrix, normaliser, params_to_matrix, pixel_grid, sample, upsample_field

__all__ = ["Level", "refine_global", "refine_batch", "refine_field", "level_score", "level_scores"]


@dataclass
class Level:
    """One pyramid level: the visible NGF and the IR image with its data mask, at their level sizes."""

    vis_n: torch.Tensor  # (1, 2, h, w)
    ir: torch.Tensor  # (1, 1, hi, wi)
    ir_mask: torch.Tensor  # (1, 1, hi, wi) bool
    eps: float  # gradient scale of the warped IR image, in visible-level pixels

    def __post_init__(self) -> None:
        # the IR image and its data mask eroded by a pixel (so that no gradient reaches across the border),
        # sampled together in one call
        self.ir_and_inner = torch.cat([self.ir, erode(self.ir_mask, 1).to(self.ir.dtype)], 1)
        # the visible NGF as the doubled-angle pair (P, 2Q) = ((nx^2 - ny^2) / 2, 2 nx ny), inner pixels
        nx, ny = self.vis_n[:, :1, 1:-1, 1:-1], self.vis_n[:, 1:, 1:-1, 1:-1]
        self.vis_pq = torch.cat([0.5 * (nx * nx - ny * ny), 2 * nx * ny], 1)
        self.grid = pixel_grid(*self.size)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.vis_n.shape[-2]), int(self.vis_n.shape[-1])


def _score(level: Level, coords: torch.Tensor) -> torch.Tensor:
    """``(K,)`` scores of the IR image sampled at ``coords`` ``(K, h, w, 2)``: :func:`~.similarity.ngf_score`.

    Written out for speed: with the IR gradient ``g`` and ``n = g / sqrt(|g|^2 + eps^2)``,
    ``(n_vis . n)^2 - |n_vis|^2 |n|^2 / 2 = (P (gx^2 - gy^2) + 2Q gx gy) / (|g|^2 + eps^2)``
    (``P``, ``2Q`` of :attr:`Level.vis_pq`); central differences are taken
    unhalved, with ``eps`` doubled to match.  Pixels next to the IR image's
    border (where it has no data) and the frame's outer pixels count nothing.
    """
    both = sample(level.ir_and_inner.expand(coords.shape[0], -1, -1, -1), coords)
    img = both[:, 0]
    valid = both[:, 1, 1:-1, 1:-1].detach() > 0.999
    gx = img[:, 1:-1, 2:] - img[:, 1:-1, :-2]
    gy = img[:, 2:, 1:-1] - img[:, :-2, 1:-1]
    gx2, gy2 = gx * gx, gy * gy
    num = level.vis_pq[:, 0] * (gx2 - gy2) + level.vis_pq[:, 1] * (gx * gy)
    per_pixel = num / (gx2 + gy2 + 4 * level.eps ** 2) * valid
    h, w = level.size
    return per_pixel.sum((1, 2)) / (h * w)


def level_score(level: Level, matrix: np.ndarray, field: torch.Tensor | None = None) -> float:
    """The NGF score of a level-matrix (and displacement field in level IR pixels) at this level."""
    with torch.no_grad():
        return float(_score(level, _coords(level, torch.from_numpy(matrix), field))[0])


def level_scores(level: Level, matrices: np.ndarray) -> np.ndarray:
    """``(K,)`` NGF scores of ``(K, 3, 3)`` level-matrices at this level (one batched evaluation)."""
    with torch.no_grad():
        return _score(level, _coords(level, torch.from_numpy(matrices), None)).double().numpy()


def _coords(level: Level, matrix: torch.Tensor, field: torch.Tensor | None, projective: bool = True) -> torch.Tensor:
    """``(K, h, w, 2)`` sampling coordinates of a ``(3, 3)`` (K = 1) or ``(K, 3, 3)`` matrix, plus ``field``."""
    h, w = level.size
    m = matrix.float()
    c = apply_matrix(m if m.ndim == 3 else m[None], level.grid, projective)
    if field is not None:
        c = c + upsample_field(field, h, w)
    return c


def _schedule(step: int, steps: int, lr0: float) -> float:
    return lr0 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(steps - 1, 1))))


def refine_global(level: Level, matrix: np.ndarray, model: str, steps: int, lr_pixels: float = 0.5) -> np.ndarray:
    """Maximise the score over ``model``'s parameters from ``matrix`` (visible-level -> IR-level); return the best.

    ``lr_pixels``: the first step size, in visible-level pixels (decays to a tenth).
    """
    return refine_batch(level, matrix[None], model, steps, lr_pixels)[0][0]


def refine_batch(level: Level, matrices: np.ndarray, model: str, steps: int,
                 lr_pixels: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refine_global` of ``(K, 3, 3)`` starts at once (one batched tensor); the best ``(K, 3, 3)`` and scores.

    The starts are independent (Adam's steps are per parameter), so this equals
    refining them one by one, in a fraction of the time for small levels.
    """
    h, w = level.size
    norm = normaliser(h, w)
    k = matrices.shape[0]
    base = torch.from_numpy(matrices @ np.linalg.inv(norm))
    right = torch.from_numpy(norm)
    p = torch.zeros(k, N_PARAMS[model], dtype=torch.float64, requires_grad=True)
    lr0 = lr_pixels / (max(h, w) / 2.0)
    opt = torch.optim.Adam([p], lr=lr0)
    best, best_score = matrices.copy(), np.full(k, -np.inf)
    for step in range(steps + 1):
        m = params_to_matrix(p, model, base) @ right
        score = _score(level, _coords(level, m, None, model == "homography"))
        now = score.detach().double().numpy()
        better = now > best_score
        if better.any():
            best_score = np.where(better, now, best_score)
            best[better] = m.detach().numpy()[better]
        if step == steps:  # the last update is scored too
            break
        for g in opt.param_groups:
            g["lr"] = _schedule(step, steps, lr0)
        opt.zero_grad()
        (-score.sum()).backward()
        opt.step()
    return best, best_score


def refine_field(level: Level, matrix: np.ndarray, field: torch.Tensor, steps: int, lr_pixels: float = 0.3,
                 smooth: float = 2e-3) -> torch.Tensor:
    """Maximise the score over a displacement grid ``field`` ``(2, gh, gw)`` (level IR pixels) added to ``matrix``.

    The grid is smoothed by a penalty ``smooth`` on its second differences, and
    by its coarse spacing (bicubic interpolation between nodes).
    """
    d = field.clone().float().requires_grad_(True)
    m = torch.from_numpy(matrix)
    opt = torch.optim.Adam([d], lr=lr_pixels)
    best, best_score = field.clone(), level_score(level, matrix, field)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = _schedule(step, steps, lr_pixels)
        score = _score(level, _coords(level, m, d))[0]
        dx2 = d[:, :, 2:] - 2 * d[:, :, 1:-1] + d[:, :, :-2]
        dy2 = d[:, 2:] - 2 * d[:, 1:-1] + d[:, :-2]
        penalty = smooth * ((dx2 ** 2).mean() + (dy2 ** 2).mean())
        if float(score.detach()) > best_score:
            best_score, best = float(score.detach()), d.detach().clone()
        opt.zero_grad()
        (penalty - score).backward()
        opt.step()
    return best
