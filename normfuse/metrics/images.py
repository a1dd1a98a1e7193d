"""Reducing whatever the user passes to the 8-bit grey image every metric works on.

Every metric in :mod:`normfuse.metrics` sees the same thing: a 2-D float64
array of whole numbers 0..255.  :func:`to_gray8` makes it (as uint8, which
every metric function accepts again; :func:`gray8_triplet` gives float64):

1. read files with :func:`normfuse.io.read_image`; take tensors to numpy;
2. put the values on the 0-255 scale (uint8 as is, uint16 ``* 255 / 65535``,
   float images, which must lie in [0, 1], ``* 255``);
3. reduce colour to BT.601 luminance ``Y = 0.299 R + 0.587 G + 0.114 B``;
4. round half up to whole numbers (MATLAB's ``round`` for non-negative values);
   uint8 colour is converted with exact integer arithmetic so that ties such
   as ``Y = 127.5`` always go up.

Examples:
    >>> import numpy as np
    >>> to_gray8(np.array([[0.0, 0.5, 1.0]]))
    array([[  0, 128, 255]], dtype=uint8)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ..io import LUMA_WEIGHTS, check_unit_range, luminance, read_image

if TYPE_CHECKING:
    import torch

__all__ = ["ImageLike", "to_gray8", "to_levels8", "gray8_triplet", "check_same_size"]

#: What the metrics accept for one image.
ImageLike = Union[np.ndarray, "torch.Tensor", str, os.PathLike]

_LUMA_PER_MILLE = np.rint(np.array(LUMA_WEIGHTS) * 1000).astype(np.int64)  # 299, 587, 114
_FLOAT_TOLERANCE = 1e-6


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    return f"shape {tuple(shape)}, dtype {dtype}" if shape is not None else type(x).__name__


def _as_numpy(img: Any) -> np.ndarray:
    """Paths -> the file's pixels; tensors -> ``(H, W)`` or ``(H, W, C)`` numpy; arrays unchanged."""
    if isinstance(img, (str, os.PathLike)):
        return read_image(img)
    if isinstance(img, np.ndarray):
        return img
    import torch

    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"a metric takes one image; got a batch tensor of {_describe(img)}")
            t = t[0]
        if t.ndim == 3:
            if t.shape[0] not in (1, 3):
                raise ValueError(f"tensor images must be (C, H, W) with C 1 or 3; got {_describe(img)}")
            t = t.permute(1, 2, 0)
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        return t.numpy()
    raise TypeError(f"expected a numpy array, a torch tensor or a file path; got {_describe(img)}")


def _grey_or_rgb(img: Any) -> np.ndarray:
    """:func:`_as_numpy`, then ``(H, W, 4)`` -> ``(H, W, 3)`` and ``(H, W, 1)`` -> ``(H, W)``; other shapes refused."""
    arr = _as_numpy(img)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"expected a grey (H, W) or colour (H, W, 3) image; got {_describe(img)}")
    return arr


def _to_255_scale(arr: np.ndarray) -> np.ndarray:
    """Values of any accepted dtype -> float64 on the 0-255 scale (not yet rounded)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float64) * 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float64) * (255.0 / 65535.0)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(
                f"integer images other than uint16 must hold 8-bit levels 0..255; got values "
                f"{arr.min()}..{arr.max()} in dtype {arr.dtype}"
            )
        return arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size:
            check_unit_range(bool(np.isfinite(arr).all()), lambda: (arr.min(), arr.max()), "image", _FLOAT_TOLERANCE)
        f = arr.astype(np.float64)
        return np.clip(f, 0.0, 1.0) * 255.0
    raise TypeError(f"unsupported image dtype {arr.dtype}; expected uint8, uint16 or float in [0, 1]")


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


def to_gray8(img: ImageLike) -> np.ndarray:
    """Reduce one image to 8-bit grey: ``(H, W)`` uint8, which :func:`normfuse.metrics.compute` accepts as it is.

    Args:
        img: numpy array ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (an alpha
            channel ``(H, W, 4)`` is dropped) of dtype uint8, uint16 or float in
            [0, 1]; torch tensor ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)``
            with ``C`` 1 or 3, float in [0, 1]; or a path to an image file.

    Raises:
        ValueError: unsupported shape, float values outside [0, 1], or a batch of several images.
        TypeError: not an array, tensor or path.

    Examples:
        >>> import numpy as np
        >>> rgb = np.zeros((1, 2, 3), np.uint8); rgb[0, 1] = (255, 0, 0)
        >>> to_gray8(rgb)   # 0.299 * 255 = 76.245 -> 76
        array([[ 0, 76]], dtype=uint8)
    """
    arr = _grey_or_rgb(img)
    if arr.ndim == 3 and arr.dtype == np.uint8:
        # Exact integer BT.601 luminance, rounded half up: (299 R + 587 G + 114 B + 500) // 1000.
        num = arr.astype(np.int64) @ _LUMA_PER_MILLE
        return ((num + 500) // 1000).astype(np.uint8)
    f = _to_255_scale(arr)
    if f.ndim == 3:
        f = luminance(f)
    return np.clip(_round_half_up(f), 0.0, 255.0).astype(np.uint8)


def to_levels8(img: ImageLike) -> np.ndarray:
    """Like :func:`to_gray8`, but colour is kept: ``(H, W)`` or ``(H, W, 3)`` float64 whole numbers 0..255.

    Used by the conventions that evaluate colour images channel by channel (``"vifb"``).
    Grey images (also ``(H, W, 1)``) come back as ``(H, W)``; an alpha channel is dropped.

    Examples:
        >>> import numpy as np
        >>> to_levels8(np.array([[[0.0, 0.5, 1.0]]]))
        array([[[  0., 128., 255.]]])
        >>> to_levels8(np.zeros((2, 3), np.uint8)).shape
        (2, 3)
    """
    arr = _grey_or_rgb(img)
    return np.clip(_round_half_up(_to_255_scale(arr)), 0.0, 255.0)


Triplet = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


def gray8_triplet(fused: ImageLike, ir: ImageLike | None, vis: ImageLike | None) -> Triplet:
    """:func:`to_gray8` of the fused image and both sources, checking that their sizes agree.

    A source may be ``None`` (only metrics of the fused image alone can then be computed).

    Raises:
        ValueError: the sizes differ; the message names both sizes.

    Examples:
        >>> import numpy as np
        >>> f, a, b = gray8_triplet(np.zeros((2, 3), np.uint8), np.ones((2, 3)), None)
        >>> f.shape, float(a.max()), b is None
        ((2, 3), 255.0, True)
        >>> gray8_triplet(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8), None)
        Traceback (most recent call last):
        ...
        ValueError: fused image is 2x3 (HxW) but ir image is 3x2; all three images must have the same size
    """
    f = to_gray8(fused).astype(np.float64)
    a, b = (None if src is None else to_gray8(src).astype(np.float64) for src in (ir, vis))
    check_same_size(f, a, b)
    return f, a, b


def check_same_size(fused: np.ndarray, ir: np.ndarray | None, vis: np.ndarray | None) -> None:
    """Raise a ValueError naming both sizes when a source's height and width differ from the fused image's."""
    for label, s in (("ir", ir), ("vis", vis)):
        if s is not None and s.shape[:2] != fused.shape[:2]:
            raise ValueError(
                f"fused image is {fused.shape[0]}x{fused.shape[1]} (HxW) but {label} image is "
                f"{s.shape[0]}x{s.shape[1]}; all three images must have the same size"
            )
