"""Known warps of aligned pairs, to measure registration: :class:`KnownWarp` and the end-point error.

A known warp moves an aligned IR image to a new frame ``(H', W')``: the IR pixel
``p`` of the new image shows the visible pixel ``G(p) = B p + e(p)`` (``B`` a
3 x 3 matrix, ``e`` a smooth elastic displacement), and the area that ``G``
sends outside the original image is filled with zeros, as a real warp does.
The true mapping of a visible pixel ``x`` is ``G^-1(x)``; the error of an
estimated mapping ``F`` is measured in visible pixels as ``|G(F(x)) - x|``.

Examples:
    >>> import numpy as np
    >>> w = KnownWarp.random(np.random.default_rng(0), (60, 80), elastic=0.0)
    >>> ir = np.random.default_rng(1).random((60, 80)).astype(np.float32)
    >>> w.apply(ir).shape
    (60, 80)
    >>> float(w.epe(w.true_coordinates())) < 1e-3      # the true mapping has no error
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .transforms import apply_matrix, pixel_grid, sample, similarity_matrix

__all__ = ["KnownWarp"]


@dataclass
class KnownWarp:
    """IR-new pixel -> visible pixel: ``G(p) = matrix @ p + field(p)``; ``vis_size`` the original (visible) frame.

    Attributes:
        matrix: ``(3, 3)`` new-IR pixel -> visible pixel.
        field: ``(2, gh, gw)`` displacement (visible pixels) on nodes spanning the new IR frame, or ``None``.
        ir_size: ``(H', W')`` of the warped IR image.
        vis_size: ``(H, W)`` of the visible (and original IR) image.
    """

    matrix: np.ndarray
    field: np.ndarray | None
    ir_size: tuple[int, int]
    vis_size: tuple[int, int]

    @classmethod
    def random(cls, rng: np.random.Generator, vis_size: tuple[int, int], rotation: float = 10.0,
               translation: float = 0.1, scale: tuple[float, float] = (0.8, 1.25), elastic: float = 3.0,
               ir_scale: float = 1.0, ir_size: tuple[int, int] | None = None) -> KnownWarp:
        """A random warp: rotation in +-``rotation`` degrees, translation up to ``translation`` of the size,
        zoom log-uniform in ``scale``, elastic displacement of up to about ``elastic`` visible pixels
        (a random 4 x 4 grid, bicubic), and an extra resolution change ``ir_scale`` (IR pixels per
        visible pixel, e.g. 0.4 for a low-resolution thermal camera) into a frame of ``ir_size``."""
        h, w = vis_size
        size = ir_size or (round(h * ir_scale), round(w * ir_scale))
        angle = rng.uniform(-rotation, rotation)
        zoom = float(np.exp(rng.uniform(np.log(scale[0]), np.log(scale[1]))))
        shift = rng.uniform(-translation, translation, 2) * np.array([w, h])
        # visible -> new IR: rotate/zoom about the centres, then shift; G is its inverse
        fwd = similarity_matrix(angle, zoom * ir_scale, ((w - 1) / 2, (h - 1) / 2),
                                ((size[1] - 1) / 2, (size[0] - 1) / 2), tuple(shift * ir_scale))
        field = None
        if elastic > 0:
            field = rng.uniform(-1, 1, (2, 4, 4)) * elastic / 1.2
        return cls(np.linalg.inv(fwd), field, size, vis_size)

    def _g(self, p: torch.Tensor) -> torch.Tensor:
        """``G`` at new-IR points ``(..., 2)`` (float64)."""
        out = apply_matrix(torch.from_numpy(self.matrix), p)
        if self.field is not None:
            h, w = self.ir_size
            g = torch.stack([p[..., 0] / max(w - 1, 1), p[..., 1] / max(h - 1, 1)], -1) * 2 - 1
            f = torch.from_numpy(self.field)[None]
            d = F.grid_sample(f, g.reshape(1, -1, 1, 2).to(f.dtype), mode="bicubic", padding_mode="border",
                              align_corners=True)
            out = out + d[0, :, :, 0].T.reshape(p.shape).to(out.dtype)
        return out

    def apply(self, ir: np.ndarray) -> np.ndarray:
        """The warped IR image ``(H', W')`` (same dtype), zeros where it shows nothing of the original."""
        t = torch.from_numpy(np.ascontiguousarray(ir, dtype=np.float32))
        t = t[None, None] if ir.ndim == 2 else t.permute(2, 0, 1)[None]
        coords = self._g(pixel_grid(*self.ir_size, torch.float64)).float()
        h, w = ir.shape[:2]
        inside = ((coords[..., 0] >= 0) & (coords[..., 0] <= w - 1) & (coords[..., 1] >= 0)
                  & (coords[..., 1] <= h - 1))
        out = sample(t, coords[None]) * inside[None, None]
        arr = out[0, 0].numpy() if ir.ndim == 2 else out[0].permute(1, 2, 0).numpy()
        if np.issubdtype(ir.dtype, np.integer):
            return np.clip(np.rint(arr), 0, np.iinfo(ir.dtype).max).astype(ir.dtype)
        return arr.astype(ir.dtype)

    def true_coordinates(self, iterations: int = 30) -> np.ndarray:
        """``(H, W, 2)``: for every visible pixel, the new-IR pixel showing it (``G^-1``, by fixed-point iteration)."""
        x = pixel_grid(*self.vis_size, torch.float64)
        inv = torch.from_numpy(np.linalg.inv(self.matrix))
        p = apply_matrix(inv, x)
        if self.field is not None:
            for _ in range(iterations):
                p = apply_matrix(inv, x - (self._g(p) - apply_matrix(torch.from_numpy(self.matrix), p)))
        return p.numpy()

    def true_valid(self) -> np.ndarray:
        """``(H, W)`` bool: visible pixels that the warped IR image shows (both images have data there)."""
        p = self.true_coordinates()
        h, w = self.ir_size
        return (p[..., 0] >= 0) & (p[..., 0] <= w - 1) & (p[..., 1] >= 0) & (p[..., 1] <= h - 1)

    def error_map(self, coordinates: np.ndarray) -> np.ndarray:
        """``(H, W)`` end-point error in visible pixels of an estimated mapping ``(H, W, 2)`` (visible -> new IR)."""
        back = self._g(torch.from_numpy(np.asarray(coordinates, dtype=np.float64))).numpy()
        return np.linalg.norm(back - pixel_grid(*self.vis_size, torch.float64).numpy(), axis=-1)

    def epe(self, coordinates: np.ndarray, reference: np.ndarray | None = None) -> float:
        """Mean end-point error over :meth:`true_valid`, in visible pixels.

        With ``reference`` (the mapping a method finds on the unwarped pair,
        ``(H, W, 2)`` in original IR pixels), the error is measured against
        that mapping instead of the identity: the method's own floor removed.
        """
        back = self._g(torch.from_numpy(np.asarray(coordinates, dtype=np.float64))).numpy()
        target = pixel_grid(*self.vis_size, torch.float64).numpy() if reference is None else reference
        err = np.linalg.norm(back - target, axis=-1)
        valid = self.true_valid()
        return float(err[valid].mean()) if valid.any() else float("nan")
