"""Reading images and converting between dtypes and colour spaces.

Colour conversion is YCbCr with BT.601 full-range coefficients (the JPEG
convention): ``Y = 0.299 R + 0.587 G + 0.114 B``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["ImageReadError", "read_image", "to_unit_float", "to_gray", "LUMA_WEIGHTS"]

#: BT.601 luminance weights of R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

PathLike = str | os.PathLike


class ImageReadError(OSError):
    """A file could not be read as an image; the message names the file and the reason."""


def read_image(path: PathLike) -> np.ndarray:
    """Read an image file with imageio: ``(H, W)`` or ``(H, W, 3)``, its stored dtype (uint8 or uint16).

    Palette images come back as RGB (or grey when the palette is grey); an alpha
    channel is dropped.

    Raises:
        ImageReadError: the path does not exist, is a folder, or is not a readable image.

    Examples:
        >>> from normfuse.samples import sample_pair_paths
        >>> read_image(sample_pair_paths()[0]).shape
        (450, 620)
    """
    import imageio.v3 as iio

    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"image file not found: {str(p)!r}")
    if p.is_dir():
        raise ImageReadError(f"expected an image file but {str(p)!r} is a folder")
    try:
        img = np.asarray(iio.imread(p))
    except Exception as exc:  # imageio raises many types for bad files
        raise ImageReadError(f"cannot read {str(p)!r} as an image: {_reason(exc)}") from exc
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 3 and np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(
        img[..., 0], img[..., 2]
    ):
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ImageReadError(f"{str(p)!r} has unsupported image shape {img.shape}; expected (H, W) or (H, W, 3)")
    return img


def _reason(exc: Exception) -> str:
    """One line saying why imageio failed (its "no backend" message lists plugins over many lines)."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    if lines[0].startswith("Could not find a backend"):
        return "not a supported image format, or the file is damaged"
    return lines[0]


def to_unit_float(img: np.ndarray) -> np.ndarray:
    """Integer images -> float32 in [0, 1] by their dtype's range; float images are returned as float32."""
    if np.issubdtype(img.dtype, np.integer):
        return (img.astype(np.float32) / np.iinfo(img.dtype).max).astype(np.float32)
    return img.astype(np.float32)


def to_gray(img: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` -> ``(H, W)`` float32 in [0, 1] (BT.601 luminance for colour)."""
    f = to_unit_float(img)
    if f.ndim == 3:
        f = (f[..., :3] @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)).astype(np.float32)
    return f
