"""Manual control points: pairs of matching points -> the least-squares transform, with its residuals.

A points file lists, for each landmark, its position in the IR image and in the
visible image (pixel coordinates: ``x`` column, ``y`` row, pixel centres at
integers).  CSV, with or without a header line::

    ir_x,ir_y,vis_x,vis_y
    102.5,40,210,81.5
    ...

or JSON: ``[{"ir": [x, y], "vis": [x, y]}, ...]`` (or ``{"points": [...]}``).

Examples:
    >>> import numpy as np
    >>> vis = np.array([[10, 10], [200, 12], [15, 150], [190, 160]], float)
    >>> ir = vis * 0.5 + [3, 4]                                     # IR at half the resolution, shifted
    >>> a = from_points(ir, vis, "similarity", ir_size=(100, 120), vis_size=(200, 240))
    >>> np.round(a.matrix, 3).tolist() == [[0.5, 0, 3], [0, 0.5, 4], [0, 0, 1]]
    True
    >>> a.info["residual_rms"] < 1e-6
    True
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from .alignment import Alignment
from .transforms import GLOBAL_MODELS

__all__ = ["read_points", "from_points", "MIN_POINTS"]

#: Point pairs needed by each model (more give a least-squares fit with residuals).
MIN_POINTS = {"translation": 1, "similarity": 2, "affine": 3, "homography": 4}

_SKIMAGE_KIND = {"similarity": "similarity", "affine": "affine", "homography": "projective"}


def read_points(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV or JSON points file; return ``(ir_points, vis_points)``, each ``(N, 2)`` float64 ``(x, y)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line or entry that is not four numbers / an ``ir`` and ``vis`` pair (named in the message).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"points file not found: {str(p)!r}")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        return _json_points(text, p)
    rows = []
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or cells[0].startswith("#"):
            continue
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if not rows and n == 1:  # a header line
                continue
            raise ValueError(f"{str(p)!r} line {n}: expected four numbers ir_x,ir_y,vis_x,vis_y, got {row}") from None
        if len(rows[-1]) != 4:
            raise ValueError(f"{str(p)!r} line {n}: expected four numbers ir_x,ir_y,vis_x,vis_y, got {row}")
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return arr[:, :2], arr[:, 2:]


def _json_points(text: str, p: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(p)!r} is not valid JSON: {exc}") from None
    items = d.get("points") if isinstance(d, dict) else d
    if not isinstance(items, list):
        raise ValueError(f"{str(p)!r}: expected a list of {{\"ir\": [x, y], \"vis\": [x, y]}}")
    ir, vis = [], []
    for k, it in enumerate(items):
        try:
            ir.append([float(v) for v in it["ir"]])
            vis.append([float(v) for v in it["vis"]])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{str(p)!r} entry {k}: expected {{\"ir\": [x, y], \"vis\": [x, y]}}, got {it!r}") from None
        if len(ir[-1]) != 2 or len(vis[-1]) != 2:
            raise ValueError(f"{str(p)!r} entry {k}: points have two coordinates (x, y), got {it!r}")
    return np.asarray(ir, np.float64).reshape(-1, 2), np.asarray(vis, np.float64).reshape(-1, 2)


def from_points(ir_points, vis_points, model: str = "affine", *, ir_size: tuple[int, int],
                vis_size: tuple[int, int]) -> Alignment:
    """The least-squares ``model`` transform taking ``vis_points`` onto ``ir_points``, as an :class:`Alignment`.

    Fitted with :func:`skimage.transform.estimate_transform` (``"similarity"``,
    ``"affine"``, ``"projective"`` for homography); ``"translation"`` is the mean
    offset.  ``info`` holds each point's residual (IR pixels, after the fit) and
    their RMS and maximum: a residual much larger than the others is a point
    marked wrongly.

    Args:
        ir_points (np.ndarray): ``(N, 2)`` array of ``(x, y)`` IR pixel coordinates of the landmarks.
        vis_points (np.ndarray): ``(N, 2)`` array of the same landmarks' visible pixel coordinates.
        model: one of ``"translation"``, ``"similarity"``, ``"affine"`` (default), ``"homography"``.
        ir_size: ``(H, W)`` of the IR image.
        vis_size: ``(H, W)`` of the visible image.

    Raises:
        ValueError: too few points for the model (:data:`MIN_POINTS`), unequal counts, or degenerate points.
    """
    if model not in GLOBAL_MODELS:
        raise ValueError(f"control points fit a global model: {', '.join(map(repr, GLOBAL_MODELS))}; got {model!r}")
    ir_p = np.asarray(ir_points, np.float64).reshape(-1, 2)
    vis_p = np.asarray(vis_points, np.float64).reshape(-1, 2)
    if len(ir_p) != len(vis_p):
        raise ValueError(f"{len(ir_p)} IR points but {len(vis_p)} visible points; they come in pairs")
    if len(ir_p) < MIN_POINTS[model]:
        raise ValueError(f"a {model} needs at least {MIN_POINTS[model]} point pairs, got {len(ir_p)}")
    if model == "translation":
        matrix = np.eye(3)
        matrix[:2, 2] = (ir_p - vis_p).mean(0)
    else:
        from skimage.transform import estimate_transform

        tf = estimate_transform(_SKIMAGE_KIND[model], vis_p, ir_p)
        matrix = np.asarray(tf.params, dtype=np.float64)
        if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-12:
            raise ValueError(f"the points do not determine a {model} (collinear or repeated points?)")
    mapped = np.c_[vis_p, np.ones(len(vis_p))] @ matrix.T
    resid = np.linalg.norm(mapped[:, :2] / mapped[:, 2:] - ir_p, axis=1)
    info = {"method": "control points", "points": len(ir_p), "residuals": np.round(resid, 4).tolist(),
            "residual_rms": float(np.sqrt((resid ** 2).mean())), "residual_max": float(resid.max())}
    a = Alignment(matrix / matrix[2, 2], model, ir_size, vis_size, info=info)
    a.info["overlap"] = round(a.overlap, 4)
    return a
