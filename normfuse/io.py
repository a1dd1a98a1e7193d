"""Reading and writing images, and converting between dtypes and colour spaces.

Colour conversion is YCbCr with BT.601 full-range coefficients (the JPEG
convention): ``Y = 0.299 R + 0.587 G + 0.114 B``.

Images are written atomically (:func:`atomic_write_image`): encoded in memory,
written to a hidden temporary file in the output folder and renamed into place
(:mod:`normfuse.atomic`), so that an interrupted run leaves no half-written file.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import move_into_place, temporary_path

__all__ = [
    "ImageReadError",
    "AlphaDroppedWarning",
    "drop_alpha",
    "read_image",
    "to_unit_float",
    "to_gray",
    "luminance",
    "LUMA_WEIGHTS",
    "check_unit_range",
    "IMAGE_SUFFIXES",
    "WRITE_SUFFIXES",
    "encode_image",
    "atomic_write_image",
]

#: BT.601 luminance weights of R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: File suffixes (lower case) taken as images when a folder is listed, everywhere in normfuse.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm", ".pnm"}
)

#: File suffixes (lower case) :func:`encode_image` writes.
WRITE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})


PathLike = str | os.PathLike


class AlphaDroppedWarning(UserWarning):
    """An image's alpha channel had transparent pixels; normfuse dropped it, so they are fused as if opaque."""


def drop_alpha(img: np.ndarray, name: str = "image") -> np.ndarray:
    """The one alpha rule, for files and numpy arrays: ``(H, W, 4)`` RGBA -> ``(H, W, 3)``, ``(H, W, 2)`` grey +
    alpha -> ``(H, W)``; other shapes come back unchanged.

    Fusion has no use for alpha: the stored values of transparent pixels are
    fused as if they were opaque, and an :class:`AlphaDroppedWarning` naming
    ``name`` says so when any pixel is not fully opaque (a fully opaque alpha is
    dropped silently).

    Examples:
        >>> drop_alpha(np.full((2, 2, 4), 255, np.uint8)).shape, drop_alpha(np.ones((2, 2, 2))).shape
        ((2, 2, 3), (2, 2))
    """
    if img.ndim != 3 or img.shape[2] not in (2, 4):
        return img
    opaque = np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else 1.0
    clear = float(np.mean(img[..., -1] < opaque))
    if clear > 0:
        import warnings

        from .devices import _first_outside_package

        warnings.warn(
            f"{name} has an alpha channel and {clear:.1%} of its pixels are not opaque: normfuse drops alpha, "
            "so they are fused as if opaque (mask the result yourself if those areas matter)",
            AlphaDroppedWarning,
            stacklevel=_first_outside_package() + 1,
        )
    return img[..., 0] if img.shape[2] == 2 else img[..., :3]


class ImageReadError(OSError):
    """A file could not be read as an image; the message names the file and the reason."""


def read_image(path: PathLike) -> np.ndarray:
    """Read an image file with imageio: ``(H, W)`` or ``(H, W, 3)``, its stored dtype (uint8 or uint16).

    Palette images come back as RGB (or grey when the palette is grey); an alpha
    channel is dropped, with a warning when it has transparent pixels (:func:`drop_alpha`).

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
    img = drop_alpha(img, repr(str(p)))
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


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luminance ``0.299 R + 0.587 G + 0.114 B`` of a float ``(..., 3)`` array, in its own dtype.

    The one grey conversion of normfuse: :func:`to_gray` and the metrics'
    :func:`~normfuse.metrics.images.to_gray8` use it (the network's
    input uses kornia's YCbCr, whose Y has the same weights).

    Examples:
        >>> luminance(np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
        array([0.299, 1.   ])
    """
    if rgb.ndim < 1 or rgb.shape[-1] != 3 or not np.issubdtype(rgb.dtype, np.floating):
        raise ValueError(f"expected a float (..., 3) array, got {rgb.dtype} {rgb.shape}")
    return (rgb @ np.asarray(LUMA_WEIGHTS, dtype=rgb.dtype)).astype(rgb.dtype, copy=False)


def _exact(v: Any) -> str:
    """The shortest decimal of a numpy float ``v`` that reads back as ``v`` in its own dtype (``1.0000001``)."""
    for digits in range(4, 18):
        s = f"{float(v):.{digits}g}"
        if type(v)(s) == v:
            return s
    return repr(float(v))  # pragma: no cover


def check_unit_range(
    finite: bool, lo_hi: Callable[[], tuple[Any, Any]], what: str, tolerance: float = 0.0
) -> None:
    """The one check of float images: finite, and within ``[0, 1]`` (widened by ``tolerance`` on both sides).

    Fusing allows no tolerance; the metrics allow ``1e-6`` and clip (a fused
    image saved as float may carry rounding error). ``lo_hi()`` returns the
    (min, max) of the data as numpy scalars of its precision; it is only called
    for finite data. ``what`` names the image in the message (``"ir image"``).

    Raises:
        ValueError: NaN or Inf values, or values outside the range; the message
            gives the exact minimum and maximum and a hint.

    Examples:
        >>> x = np.array([0.0, 1.5])
        >>> check_unit_range(True, lambda: (x.min(), x.max()), "vis image")
        Traceback (most recent call last):
        ...
        ValueError: vis image is float with values in [0, 1.5]; float images must lie in [0, 1] (...)
    """
    if not finite:
        raise ValueError(f"{what} contains NaN or Inf values")
    lo, hi = lo_hi()
    if lo < -tolerance or hi > 1.0 + tolerance:
        hint = "divide 8-bit data by 255, or pass the integer array"
        if lo > -0.01 and hi < 1.01:
            hint = "if this is rounding error, clip it: np.clip(x, 0, 1) or x.clamp(0, 1)"
        raise ValueError(
            f"{what} is float with values in [{_exact(lo)}, {_exact(hi)}]; float images must lie in [0, 1] "
            f"({hint})"
        )


def to_gray(img: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` -> ``(H, W)`` float32 in [0, 1] (BT.601 luminance for colour).

    Examples:
        >>> to_gray(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8))
        array([[1., 0.]], dtype=float32)
    """
    f = to_unit_float(img)
    return luminance(f[..., :3]) if f.ndim == 3 else f


# ---------------------------------------------------------------------------------------------- writing
def _encode_png16(image: np.ndarray) -> bytes:
    """Encode a uint16 grey or RGB array as PNG, filter type 0 on every row (Pillow cannot write 16-bit RGB PNG)."""
    h, w = image.shape[:2]
    colour_type = 2 if image.ndim == 3 else 0
    rows = np.ascontiguousarray(image, dtype=">u2").reshape(h, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode ``(H, W)`` or ``(H, W, 3)`` uint8/uint16 as ``.png``, ``.tif``, ``.jpg`` (quality 95) or ``.bmp``.

    JPEG and BMP hold 8-bit images only. Any byte order and strides are accepted.

    Raises:
        ValueError: an unsupported suffix, dtype or shape, or 16 bits for JPEG/BMP.

    Examples:
        >>> encode_image(np.zeros((2, 3), np.uint8), ".png")[:4]
        b'\\x89PNG'
    """
    import imageio.v3 as iio

    suffix = suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ValueError(f"cannot write {suffix!r} images; use .png, .jpg, .tif, .tiff or .bmp")
    image = np.asarray(image)
    image = image.astype(image.dtype.newbyteorder("="), copy=False)  # any byte order, as the fuser accepts
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        raise ValueError(f"expected a (H, W) or (H, W, 3) uint8/uint16 image, got {image.dtype} {image.shape}")
    if suffix in (".jpg", ".jpeg", ".bmp") and image.dtype != np.uint8:
        kind = "BMP" if suffix == ".bmp" else "JPEG"
        raise ValueError(f"{kind} holds 8-bit images only; write PNG or TIFF for 16 bits")
    if suffix in (".jpg", ".jpeg"):
        return iio.imwrite("<bytes>", image, extension=".jpg", quality=95)
    if suffix == ".png" and image.dtype == np.uint16 and image.ndim == 3:
        return _encode_png16(image)
    return iio.imwrite("<bytes>", image, extension=suffix)


def atomic_write_image(path: PathLike, image: np.ndarray, overwrite: bool = False) -> Path:
    """Write an image so that ``path`` is either absent/unchanged or the complete new file.

    The image is encoded in memory (format from the suffix of ``path``: see
    :func:`encode_image`), written and fsynced to a hidden temporary file
    (:func:`~normfuse.atomic.temporary_path`) in the same folder, then moved into place with
    :func:`~normfuse.atomic.move_into_place`. The folder is created if needed.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: unsupported suffix or array.
        OSError: the file cannot be written (the temporary file is removed).

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> atomic_write_image(d / "a.png", np.zeros((4, 4), np.uint8)).name
        'a.png'
        >>> atomic_write_image(d / "a.png", np.ones((4, 4), np.uint8))
        Traceback (most recent call last):
        ...
        FileExistsError: ...a.png' exists; pass overwrite=True (--overwrite) to replace it
        >>> sorted(f.name for f in d.iterdir())          # no temporary file left behind
        ['a.png']
    """
    path = Path(path)
    data = encode_image(image, path.suffix)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        move_into_place(tmp, path, overwrite)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
