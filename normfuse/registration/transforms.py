"""Transform models and pixel-coordinate helpers of the registration.

Conventions (those of :class:`~normfuse.registration.Alignment`): a pixel's centre has
integer coordinates, ``x`` is the column and ``y`` the row; a 3 x 3 matrix maps
homogeneous visible-image pixel coordinates ``(x, y, 1)`` to infrared-image
pixel coordinates.

Examples:
    >>> import torch
    >>> m = params_to_matrix(torch.tensor([0.0, 0.0]), "translation", torch.eye(3, dtype=torch.float64))
    >>> m.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    >>> pixel_grid(2, 3)[1, 2].tolist()      # row 1, column 2 -> (x, y)
    [2.0, 1.0]
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Model",
    "GLOBAL_MODELS",
    "MODELS",
    "N_PARAMS",
    "check_model",
    "params_to_matrix",
    "normaliser",
    "pixel_grid",
    "apply_matrix",
    "level_matrix",
    "sample",
    "upsample_field",
    "similarity_matrix",
]

#: The transform models, from the most constrained to the most flexible.
Model = Literal["translation", "similarity", "affine", "homography", "deformable"]
MODELS: tuple[str, ...] = get_args(Model)
#: The global (one-matrix) models.
GLOBAL_MODELS: tuple[str, ...] = MODELS[:-1]
#: Free parameters of each global model (as :func:`params_to_matrix` reads them).
N_PARAMS = {"translation": 2, "similarity": 4, "affine": 6, "homography": 8}


def check_model(model: str) -> str:
    """Return ``model`` if it is one of :data:`MODELS`, else raise a ValueError naming the choices."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))}, got {model!r}")
    return model


def params_to_matrix(p: torch.Tensor, model: str, base: torch.Tensor) -> torch.Tensor:
    """A small update ``p`` of a model applied before ``base``: ``base @ (I + P)`` as a float64 3 x 3 tensor.

    ``p`` is in normalised units (see :func:`normaliser`): translation ``(tx, ty)``;
    similarity ``(tx, ty, a, b)`` (linear part ``[[a, -b], [b, a]]``); affine
    ``(tx, ty, a11, a12, a21, a22)``; homography the affine six plus ``(h1, h2)``.
    ``p = 0`` gives ``base``; differentiable in ``p``.  A batch ``p`` ``(K, n)``
    with ``base`` ``(K, 3, 3)`` (or ``(3, 3)``) gives ``(K, 3, 3)``.
    """
    z = torch.zeros_like(p[..., 0])
    one = torch.ones_like(z)
    tx, ty = p[..., 0], p[..., 1]
    a11 = a12 = a21 = a22 = h1 = h2 = z
    if model == "similarity":
        a11, a12, a21, a22 = p[..., 2], -p[..., 3], p[..., 3], p[..., 2]
    elif model in ("affine", "homography"):
        a11, a12, a21, a22 = p[..., 2], p[..., 3], p[..., 4], p[..., 5]
    if model == "homography":
        h1, h2 = p[..., 6], p[..., 7]
    upd = torch.stack([
        torch.stack([one + a11, a12, tx], -1),
        torch.stack([a21, one + a22, ty], -1),
        torch.stack([h1, h2, one], -1),
    ], -2)
    return base @ upd.to(base.dtype)


def normaliser(height: int, width: int) -> np.ndarray:
    """The 3 x 3 matrix taking pixel coordinates to centred units: ``(x - cx) / r``, r the half of the longer side.

    Examples:
        >>> normaliser(3, 5) @ [4, 1, 1]
        array([1., 0., 1.])
    """
    r = max(height, width) / 2.0 - 0.5 if max(height, width) > 1 else 1.0
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return np.array([[1 / r, 0, -cx / r], [0, 1 / r, -cy / r], [0, 0, 1]], dtype=np.float64)


def pixel_grid(height: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(height, width, 2)`` tensor of the pixel coordinates ``(x, y)`` of every pixel."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys], -1)


def apply_matrix(matrix: torch.Tensor, grid: torch.Tensor, projective: bool = True) -> torch.Tensor:
    """Map ``(..., 2)`` points through a 3 x 3 matrix (projective division included).

    A batch of matrices ``(K, 3, 3)`` maps the same points into ``(K, ..., 2)``.
    ``projective=False`` skips the division: for matrices whose last row is ``(0, 0, 1)``.
    """
    m = matrix.to(grid.dtype)
    pts = grid.reshape(-1, 2)
    lin = pts @ m[..., :2, :2].transpose(-1, -2) + m[..., None, :2, 2]  # (..., N, 2)
    if not projective:
        return lin.reshape(*m.shape[:-2], *grid.shape)
    w = pts @ m[..., 2:, :2].transpose(-1, -2) + m[..., None, 2:, 2]  # (..., N, 1)
    w = torch.where(w.abs() < 1e-8, torch.full_like(w, 1e-8), w)
    return (lin / w).reshape(*m.shape[:-2], *grid.shape)


def _pixel_scale(full: tuple[int, int], level: tuple[int, int]) -> np.ndarray:
    """Matrix taking level pixel coordinates to full-size pixel coordinates (pixel centres preserved)."""
    sx, sy = full[1] / level[1], full[0] / level[0]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)


def level_matrix(matrix: np.ndarray, vis: tuple[tuple[int, int], tuple[int, int]],
                 ir: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """A full-size visible -> IR matrix expressed between resized images.

    ``vis`` and ``ir`` are ``(full_size, level_size)`` pairs of ``(H, W)``.
    """
    return np.linalg.inv(_pixel_scale(*ir)) @ matrix @ _pixel_scale(*vis)


def sample(image: torch.Tensor, coords: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """Bilinear samples of ``image`` ``(B, C, h, w)`` at pixel coordinates ``coords`` ``(B, H, W, 2)``.

    Returns ``(B, C, H, W)``; outside the image: zeros (``padding="zeros"``) or the edge value (``"border"``).
    """
    h, w = image.shape[-2:]
    scale = coords.new_tensor([2.0 / w, 2.0 / h])
    g = (coords + 0.5) * scale - 1.0
    return F.grid_sample(image, g.to(image.dtype), mode="bilinear", padding_mode=padding, align_corners=False)


def upsample_field(field: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A ``(2, gh, gw)`` displacement grid (nodes spanning the frame corner pixel to corner pixel) -> ``(H, W, 2)``."""
    up = F.interpolate(field[None], size=(height, width), mode="bicubic", align_corners=True)[0]
    return up.permute(1, 2, 0)


def similarity_matrix(angle_deg: float, scale: float, centre_vis: tuple[float, float],
                      centre_ir: tuple[float, float], shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Visible -> IR matrix of a rotation by ``angle_deg`` and a ``scale`` about the two centres, plus ``shift``.

    The visible pixel ``centre_vis`` lands on ``centre_ir + shift`` (IR pixels).
    """
    t = np.deg2rad(angle_deg)
    c, s = scale * np.cos(t), scale * np.sin(t)
    lin = np.array([[c, -s], [s, c]])
    off = np.asarray(centre_ir, float) + np.asarray(shift, float) - lin @ np.asarray(centre_vis, float)
    out = np.eye(3)
    out[:2, :2], out[:2, 2] = lin, off
    return out
