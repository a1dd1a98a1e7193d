"""The result of a registration: :class:`Alignment` (a visible -> IR mapping), saved as a small JSON file.

Examples:
    >>> import numpy as np
    >>> a = Alignment(np.array([[1.0, 0, 5], [0, 1, 0], [0, 0, 1]]), "translation", ir_size=(4, 8), vis_size=(4, 6))
    >>> a.coordinates()[0, 0].tolist()           # visible pixel (x=0, y=0) takes IR pixel (5, 0)
    [5.0, 0.0]
    >>> a.valid[0].tolist()                      # IR columns 5..10 exist only up to 7
    [True, True, True, False, False, False]
    >>> a.warp(np.arange(32, dtype=np.uint8).reshape(4, 8))[1].tolist()
    [13, 14, 15, 0, 0, 0]
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .transforms import MODELS, apply_matrix, pixel_grid, sample, upsample_field

__all__ = ["Alignment", "AlignmentSizeError", "FORMAT"]

#: The ``"format"`` value of an alignment (rig) JSON file.
FORMAT = "normfuse-alignment"


class AlignmentSizeError(ValueError):
    """An alignment (rig file) is applied to images of other sizes than it was made for."""


def _size(v: Any, name: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (height, width), got {v!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, got {v!r}")
    return h, w


@dataclass
class Alignment:
    """A mapping from every visible-image pixel to the infrared-image pixel it takes its value from.

    Coordinates follow one convention everywhere: ``x`` is the column, ``y`` the
    row, and a pixel's centre has integer coordinates.

    Attributes:
        matrix: ``(3, 3)`` float64, the global transform: homogeneous visible
            pixel ``(x, y, 1)`` -> IR pixel (divide by the third coordinate).
        model: ``"translation"``, ``"similarity"``, ``"affine"``, ``"homography"``
            or ``"deformable"`` (the matrix plus :attr:`field`).
        ir_size: ``(H_ir, W_ir)`` of the IR images this alignment applies to.
        vis_size: ``(H_vis, W_vis)`` of the visible images (the output grid).
        score: agreement of the two images' edges after registration, in [0, 1]
            (the weighted mean squared cosine between their gradient directions:
            about 0.5 for unrelated images, near 1 for a perfect match); ``nan``
            for control points.
        field: ``None``, or for ``"deformable"`` a ``(2, gh, gw)`` float32 grid of
            displacements in IR pixels (x then y), added to the matrix's mapping;
            its nodes span the visible frame from the first to the last pixel
            and are interpolated bicubically in between.
        reliable: False when the registration found too little agreement or
            overlap to be trusted (see :func:`~normfuse.registration.align`).
        info: anything else worth keeping (overlap, control-point residuals,
            number of pairs of a rig calibration, timing); saved with the file.
    """

    matrix: np.ndarray
    model: str
    ir_size: tuple[int, int]
    vis_size: tuple[int, int]
    score: float = float("nan")
    field: np.ndarray | None = None
    reliable: bool = True
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.matrix = np.asarray(self.matrix, dtype=np.float64)
        if self.matrix.shape != (3, 3) or not np.isfinite(self.matrix).all():
            raise ValueError(f"matrix must be a finite 3 x 3 array, got shape {self.matrix.shape}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))}, got {self.model!r}")
        self.ir_size, self.vis_size = _size(self.ir_size, "ir_size"), _size(self.vis_size, "vis_size")
        if self.field is not None:
            self.field = np.asarray(self.field, dtype=np.float32)
            if self.field.ndim != 3 or self.field.shape[0] != 2:
                raise ValueError(f"field must have shape (2, gh, gw), got {self.field.shape}")

    # ------------------------------------------------------------------ mapping
    def coordinates(self) -> np.ndarray:
        """``(H_vis, W_vis, 2)`` float32: for every visible pixel, the IR pixel coordinates ``(x, y)`` it takes."""
        return self._coords().numpy()

    def _coords(self) -> torch.Tensor:
        h, w = self.vis_size
        c = apply_matrix(torch.from_numpy(self.matrix), pixel_grid(h, w, torch.float64)).float()
        if self.field is not None:
            c = c + upsample_field(torch.from_numpy(self.field), h, w)
        return c

    @property
    def valid(self) -> np.ndarray:
        """``(H_vis, W_vis)`` bool: True where the IR image has data (the mapped point lies inside the IR frame)."""
        return self._valid(self._coords()).numpy()

    def _valid(self, coords: torch.Tensor) -> torch.Tensor:
        h, w = self.ir_size
        x, y = coords[..., 0], coords[..., 1]
        return (x >= -1e-3) & (x <= w - 1 + 1e-3) & (y >= -1e-3) & (y <= h - 1 + 1e-3)

    @property
    def overlap(self) -> float:
        """Fraction of the visible frame that the IR image covers."""
        return float(self.valid.mean())

    def check_sizes(self, ir_size: Sequence[int], vis_size: Sequence[int] | None = None) -> None:
        """Raise :class:`AlignmentSizeError` unless the images have the sizes ``(H, W)`` this alignment was made for."""
        ir_size = tuple(int(v) for v in ir_size)
        bad = []
        if ir_size != self.ir_size:
            bad.append(f"IR {ir_size[0]}x{ir_size[1]} (expected {self.ir_size[0]}x{self.ir_size[1]})")
        if vis_size is not None and tuple(int(v) for v in vis_size) != self.vis_size:
            bad.append(f"visible {vis_size[0]}x{vis_size[1]} (expected {self.vis_size[0]}x{self.vis_size[1]})")
        if bad:
            source = self.info.get("path")
            made = f"the alignment {source!r}" if source else "this alignment"
            raise AlignmentSizeError(
                f"{made} was made for IR {self.ir_size[0]}x{self.ir_size[1]} and visible "
                f"{self.vis_size[0]}x{self.vis_size[1]} images (HxW), but got {' and '.join(bad)}; "
                "register this camera pair again (normfuse align IR VIS -o rig.json)"
            )

    def warp_tensor(self, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, H_ir, W_ir)`` float -> the IR image on the visible grid ``(B, C, H_vis, W_vis)`` and the valid mask.

        The mask is ``(1, 1, H_vis, W_vis)`` bool; invalid pixels are 0 in the warped image.
        """
        self.check_sizes(ir.shape[-2:])
        coords = self._coords().to(ir.device)
        out = sample(ir.float(), coords[None].expand(ir.shape[0], -1, -1, -1), padding="border")
        valid = self._valid(coords)[None, None]
        return out * valid.to(out.dtype), valid

    def warp(self, ir: np.ndarray | torch.Tensor, fill: float = 0.0) -> np.ndarray | torch.Tensor:
        """The IR image resampled (bilinear) on the visible grid; pixels outside :attr:`valid` are ``fill``.

        Args:
            ir: numpy ``(H_ir, W_ir)`` or ``(H_ir, W_ir, C)`` of any numeric dtype, or a
                tensor ``(H_ir, W_ir)``, ``(C, H_ir, W_ir)`` or ``(B, C, H_ir, W_ir)``.
            fill: value of the pixels without IR data (in the input's units);
                use :attr:`valid` to tell them apart rather than a value.

        Returns:
            The same kind, dtype and layout with the visible size (integers rounded).

        Raises:
            AlignmentSizeError: ``ir`` is not of :attr:`ir_size`.
        """
        if isinstance(ir, torch.Tensor):
            t = ir[None, None] if ir.ndim == 2 else ir[None] if ir.ndim == 3 else ir
            out, valid = self.warp_tensor(t)
            out = torch.where(valid, out, torch.full_like(out, fill)).to(ir.dtype)
            return out[0, 0] if ir.ndim == 2 else out[0] if ir.ndim == 3 else out
        arr = np.asarray(ir)
        if arr.ndim not in (2, 3):
            raise ValueError(f"ir array must have shape (H, W) or (H, W, C), got {arr.shape}")
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        t = t[None, None] if arr.ndim == 2 else t.permute(2, 0, 1)[None]
        out, valid = self.warp_tensor(t)
        res = torch.where(valid, out, torch.full_like(out, float(fill)))[0]
        res_np = res[0].numpy() if arr.ndim == 2 else res.permute(1, 2, 0).numpy()
        if np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(arr.dtype)
            return np.clip(np.rint(res_np), info.min, info.max).astype(arr.dtype)
        return res_np.astype(arr.dtype)

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready content of :meth:`save`."""
        from .._version import __version__

        info = {k: v for k, v in self.info.items() if k != "path"}
        return {
            "format": FORMAT,
            "version": 1,
            "model": self.model,
            "matrix": self.matrix.tolist(),
            "ir_size": list(self.ir_size),
            "vis_size": list(self.vis_size),
            "score": None if not np.isfinite(self.score) else round(float(self.score), 6),
            "reliable": bool(self.reliable),
            "field": None if self.field is None else np.round(self.field.astype(np.float64), 5).tolist(),
            "info": info,
            "normfuse": __version__,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write this alignment as JSON (model, matrix, sizes, score, field, info); return the path."""
        from ..atomic import move_into_place, temporary_path

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(out)
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        move_into_place(tmp, out, overwrite=True)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> Alignment:
        """Read a file written by :meth:`save`.

        Raises:
            ValueError: not such a file (the message names it and what is wrong).
            FileNotFoundError: no such file.
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"alignment file not found: {str(p)!r}")
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{str(p)!r} is not an alignment JSON file: {exc}") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{str(p)!r} is not an alignment file (no \"format\": \"{FORMAT}\")")
        try:
            info = dict(d.get("info") or {})
            info["path"] = str(p)
            score = d.get("score")
            return cls(
                matrix=np.asarray(d["matrix"], dtype=np.float64),
                model=d["model"],
                ir_size=d["ir_size"],
                vis_size=d["vis_size"],
                score=float("nan") if score is None else float(score),
                field=None if d.get("field") is None else np.asarray(d["field"], dtype=np.float32),
                reliable=bool(d.get("reliable", True)),
                info=info,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{str(p)!r} is a damaged alignment file: {exc}") from None

    def __repr__(self) -> str:
        (hi, wi), (hv, wv) = self.ir_size, self.vis_size
        return (f"Alignment(model={self.model!r}, score={self.score:.3f}, reliable={self.reliable}, "
                f"ir {hi}x{wi} -> vis {hv}x{wv}, overlap={self.overlap:.2f})")
