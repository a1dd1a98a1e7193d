"""Turning what users pass (arrays, tensors, paths) into network input, and the result back.

Accepted images:

- numpy arrays ``(H, W)`` or ``(H, W, 3)`` of dtype uint8, uint16 or float
  (float16/32/64, values in [0, 1]); any strides and byte orders. An alpha
  channel (``(H, W, 2)`` grey + alpha, ``(H, W, 4)`` RGBA), in arrays as in
  files, is dropped, with a warning when it has transparent pixels
  (:func:`normfuse.io.drop_alpha`).
- torch tensors ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)`` with ``C`` 1 or 3,
  floating dtype, values in [0, 1].
- paths (``str`` or :class:`os.PathLike`), read with imageio.

Colour images are split into luminance and chroma (YCbCr, BT.601 full range);
only luminance is fused and the visible image's chroma is put back.

Examples:
    >>> import numpy as np
    >>> p = prepare(np.zeros((4, 5), np.uint8), "vis")
    >>> p.luma.shape, p.chroma is None
    (torch.Size([1, 1, 4, 5]), True)
    >>> restore(p.luma, p).dtype
    dtype('uint8')
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from .io import check_unit_range, drop_alpha, read_image
from .norm import choices

__all__ = [
    "ImageInput",
    "ThermalRange",
    "Prepared",
    "MIN_SIZE",
    "NarrowRangeWarning",
    "SizeMismatchError",
    "prepare",
    "thermal_policy",
    "restore",
    "match_sizes",
    "check_min_size",
]

ImageInput = np.ndarray | torch.Tensor | str | os.PathLike
ThermalRange = Literal["auto", "dtype", "minmax", "percentile"]
Resize = Literal["ir", "vis"]
_NUMPY_DTYPES = (np.uint8, np.uint16, np.float16, np.float32, np.float64)

#: Smallest height and width :meth:`~normfuse.NormFuser.fuse` accepts.  Each fused
#: pixel is computed from a 29 x 29 neighbourhood (receptive-field radius 14) and
#: the model was trained on 128 x 128 crops; an image of a few pixels is nearly all
#: reflection padding, and the network answers flat content with its own level
#: (a flat IR 100 / visible 50 pair fuses to 25 at any size), not with a blend.
MIN_SIZE = 8


#: Largest number of values per image the ``"percentile"`` policy reads; bigger images are sampled
#: on a regular stride (``torch.quantile`` refuses more than 2**24 values).
_QUANTILE_SAMPLES = 1 << 24


class SizeMismatchError(ValueError):
    """The IR and visible images differ in size and no ``resize`` was asked for.

    The message ends with :attr:`API_HINT`; the command line shows :attr:`CLI_HINT` in its place.
    """

    API_HINT = "pass resize='ir' (resize IR to the visible size) or resize='vis'"
    CLI_HINT = "pass --resize ir (resize IR to the visible size) or --resize vis"

    @classmethod
    def in_cli_words(cls, message: str) -> str:
        """``message`` with the API's hint replaced by the command line's."""
        return message.replace(cls.API_HINT, cls.CLI_HINT)


class NarrowRangeWarning(UserWarning):
    """A 16-bit image uses under 1/8 of its range (12-bit or radiometric data): scaled by 65535 it nearly vanishes."""


@dataclass
class Prepared:
    """One image (or batch) ready for the network, and what is needed to give the result back.

    Attributes:
        luma: ``(B, 1, H, W)`` float32 luminance in [0, 1], on CPU for arrays, on the input's device for tensors.
        chroma: ``(B, 2, H, W)`` Cb, Cr in [0, 1] of a colour image, else ``None``.
        kind: ``"numpy"`` or ``"tensor"``.
        dtype: the input's numpy or torch dtype.
        ndim: the input's number of dimensions.
        device: the input tensor's device (``None`` for arrays).
        channels: the input's channels (1 or 3); a 3-channel image whose channels
            are equal is fused as grey and given back with 3 equal channels.
    """

    luma: torch.Tensor
    chroma: torch.Tensor | None
    kind: str
    dtype: Any
    ndim: int
    device: torch.device | None
    channels: int = 1

    @property
    def size(self) -> tuple[int, int]:
        return int(self.luma.shape[-2]), int(self.luma.shape[-1])

    @property
    def batch(self) -> int:
        return int(self.luma.shape[0])


def _describe(x: Any) -> str:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return f"shape {tuple(x.shape)}, dtype {x.dtype}"
    return type(x).__name__


def _scale_thermal(x: torch.Tensor, policy: ThermalRange, percentiles: tuple[float, float]) -> torch.Tensor:
    """Stretch ``(B, 1, H, W)`` values per image to [0, 1] by min-max or percentiles."""
    flat = x.flatten(1)
    if policy == "minmax":
        lo, hi = flat.min(1).values, flat.max(1).values
    else:
        q = torch.tensor([percentiles[0] / 100.0, percentiles[1] / 100.0], dtype=flat.dtype, device=flat.device)
        step = -(-flat.shape[1] // _QUANTILE_SAMPLES)
        lo, hi = torch.quantile(flat[:, ::step], q, dim=1)
    lo, hi = lo.view(-1, 1, 1, 1), hi.view(-1, 1, 1, 1)
    return ((x - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)


def _warn_if_narrow(arr: np.ndarray, role: str) -> None:
    """Warn when uint16 values use under 1/8 of the range: IR values spanning it, visible values below it."""
    lo, hi = (int(arr.min()) if role == "ir" else 0), int(arr.max())
    if hi - lo >= 65536 // 8:
        return
    if role == "ir":
        hint = ("it has almost no contrast: use the default thermal_range='auto' or 'percentile' "
                "(--thermal-range auto) to stretch the values present")
    else:
        hint = "it is nearly black: scale it to float in [0, 1] yourself (e.g. vis / 4095.0 for 12-bit data)"
    warnings.warn(
        f"{role} image is uint16 but its values span {lo}..{hi} of 0..65535 (under 1/8 of the range, e.g. 12-bit "
        f"or radiometric data); divided by 65535 {hint}",
        NarrowRangeWarning,
        stacklevel=5,
    )


def thermal_policy(thermal_range: ThermalRange, image: np.ndarray | torch.Tensor) -> ThermalRange:
    """The policy ``thermal_range`` means for this IR image: ``"auto"`` is ``"percentile"`` for 16-bit integer
    arrays (radiometric cameras use a narrow band of the range, as their own software assumes) and ``"dtype"``
    for 8-bit and float images; other policies are returned unchanged.

    Examples:
        >>> thermal_policy("auto", np.zeros((2, 2), np.uint16)), thermal_policy("auto", np.zeros((2, 2), np.uint8))
        ('percentile', 'dtype')
    """
    if thermal_range != "auto":
        return thermal_range
    is16 = isinstance(image, np.ndarray) and image.dtype.kind == "u" and image.dtype.itemsize == 2
    return "percentile" if is16 else "dtype"


def _from_numpy(arr: np.ndarray, role: str, warn_narrow: bool = True) -> torch.Tensor:
    """Array -> ``(1, C, H, W)`` float32 tensor in [0, 1] (dtype range)."""
    if arr.dtype.type not in _NUMPY_DTYPES:
        raise TypeError(
            f"{role} image has unsupported dtype {arr.dtype} ({_describe(arr)}); use uint8, uint16 or float in [0, 1]"
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    arr = drop_alpha(arr, f"{role} image")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(
            f"{role} array must have shape (H, W) or (H, W, 3) (or with alpha: (H, W, 2), (H, W, 4)), "
            f"got {tuple(arr.shape)}"
        )
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    if arr.dtype == np.uint16 and warn_narrow:
        _warn_if_narrow(arr, role)
    if np.issubdtype(arr.dtype, np.integer):
        t = torch.from_numpy(arr.astype(np.float32) / np.iinfo(arr.dtype).max)
    else:  # check before the cast: float64 values beyond float32's range would turn into Inf
        check_unit_range(bool(np.isfinite(arr).all()), lambda: (arr.min(), arr.max()), f"{role} image")
        t = torch.from_numpy(arr.astype(np.float32))
    return t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]


def _from_tensor(x: torch.Tensor, role: str) -> torch.Tensor:
    if not torch.is_floating_point(x):
        raise TypeError(f"{role} tensor must be floating point in [0, 1], got {_describe(x)}; use x.float() / 255")
    given = tuple(x.shape)
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"{role} tensor must have shape (H, W), (C, H, W) or (B, C, H, W), got {given}")
    if x.ndim > 2 and x.shape[-3] not in (1, 3):
        hint = ""
        if x.shape[-1] in (1, 3):  # channels last, as numpy and imageio give it
            order = "2, 0, 1" if x.ndim == 3 else "0, 3, 1, 2"
            hint = f"; it looks channels-last: pass x.permute({order})"
        layout = "(C, H, W)" if x.ndim == 3 else "(B, C, H, W)"
        dim = x.ndim - 3
        raise ValueError(f"{role} tensor must have 1 or 3 channels at dim {dim} {layout}, got shape {given}{hint}")
    x = x[None, None] if x.ndim == 2 else x[None] if x.ndim == 3 else x
    x = x.detach()
    finite = bool(torch.isfinite(x).all())
    check_unit_range(finite, lambda: (_scalar(x.min()), _scalar(x.max())), f"{role} image")
    return x.float()


def _scalar(t: torch.Tensor) -> Any:
    """A 0-d float tensor as a numpy scalar of its precision (bfloat16 as float32, which holds it exactly)."""
    return (t.float() if t.dtype == torch.bfloat16 else t).cpu().numpy()[()]


def prepare(
    image: ImageInput,
    role: Literal["ir", "vis"],
    thermal_range: ThermalRange = "auto",
    percentiles: tuple[float, float] = (1.0, 99.0),
) -> Prepared:
    """Validate ``image`` and convert it to :class:`Prepared`.

    Args:
        image: array, tensor or path (see the module docstring).
        role: ``"ir"`` or ``"vis"``; used in messages, and an IR image may not be colour.
        thermal_range: how IR values map to [0, 1]: ``"auto"`` (default:
            ``"percentile"`` for uint16 arrays and files, ``"dtype"`` for 8-bit and
            float ones, see :func:`thermal_policy`), ``"dtype"`` (divide by the
            dtype's maximum, e.g. 65535 for uint16; float taken as is),
            ``"minmax"`` (per-image min-max stretch) or ``"percentile"`` (clip to
            the ``percentiles`` and stretch). Ignored for ``role="vis"``.
        percentiles: lower and upper percentile of the ``"percentile"`` policy.

    Raises:
        TypeError: unsupported type or dtype.
        ValueError: wrong shape, empty, NaN/Inf, float values outside [0, 1], or a colour IR image.
        normfuse.io.ImageReadError: a path cannot be read.

    Warns:
        NarrowRangeWarning: a uint16 IR image whose values span under 8192 (1/8
            of the range, e.g. 12-bit or radiometric data) under ``thermal_range="dtype"``,
            or a uint16 visible image whose largest value is under 8192; it would
            come out with almost no contrast, or nearly black.
    """
    if thermal_range not in get_args(ThermalRange):
        raise ValueError(f"thermal_range must be {choices(ThermalRange)}, got {thermal_range!r}")
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image)
    if isinstance(image, np.ndarray):
        dtype: Any
        kind, dtype, ndim, device = "numpy", image.dtype, image.ndim, None
        if image.size == 0:
            raise ValueError(f"{role} image is empty ({_describe(image)})")
        if role == "ir":
            thermal_range = thermal_policy(thermal_range, image)
        x = _from_numpy(image, role, warn_narrow=role == "vis" or thermal_range == "dtype")
    elif isinstance(image, torch.Tensor):
        kind, dtype, ndim, device = "tensor", image.dtype, image.ndim, image.device
        if image.numel() == 0:
            raise ValueError(f"{role} image is empty ({_describe(image)})")
        x = _from_tensor(image, role)
    else:
        raise TypeError(f"{role} image must be a numpy array, a torch tensor or a path, got {_describe(image)}")
    chroma, channels = None, int(x.shape[1])
    if x.shape[1] == 3:
        if bool((x[:, 0] == x[:, 1]).all()) and bool((x[:, 0] == x[:, 2]).all()):
            x = x[:, :1]
        elif role == "ir":
            raise ValueError(
                f"ir image has 3 different colour channels ({_describe(image)}); a thermal image must be single-channel "
                "(pass the raw thermal channel, or convert a pseudo-colour image to grey yourself)"
            )
        else:
            import kornia

            ycc = kornia.color.rgb_to_ycbcr(x)
            x, chroma = ycc[:, :1], ycc[:, 1:]
    if role == "ir" and thermal_range not in ("dtype", "auto"):  # "auto" is "dtype" for tensors
        x = _scale_thermal(x, thermal_range, percentiles)
    return Prepared(x.contiguous(), chroma, kind, dtype, ndim, device, channels)


def match_sizes(ir: Prepared, vis: Prepared, resize: Resize | None = None) -> None:
    """Check that IR and visible agree in size and batch; resize one of them in place if asked.

    ``resize="ir"`` resizes the IR image to the visible image's size (bilinear,
    antialiased); ``resize="vis"`` the visible image to the IR image's size.

    Raises:
        SizeMismatchError: sizes differ and ``resize`` is ``None`` (a ``ValueError``).
        ValueError: batch sizes differ, or ``resize`` is invalid.
    """
    if resize is not None and resize not in get_args(Resize):
        raise ValueError(f"resize must be None, {choices(Resize)}, got {resize!r}")
    if ir.batch != vis.batch:
        raise ValueError(f"ir and vis batch sizes differ: {ir.batch} and {vis.batch}")
    if ir.size == vis.size:
        return
    (ih, iw), (vh, vw) = ir.size, vis.size
    if resize is None:
        raise SizeMismatchError(
            f"ir image is {ih}x{iw} (HxW) but vis image is {vh}x{vw}; register them to the same size "
            f"or {SizeMismatchError.API_HINT}"
        )
    src, size = (ir, vis.size) if resize == "ir" else (vis, ir.size)
    src.luma = F.interpolate(src.luma, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    if src.chroma is not None:
        src.chroma = F.interpolate(src.chroma, size=size, mode="bilinear", align_corners=False, antialias=True)


def check_min_size(image: Prepared, name: str) -> None:
    """Raise a ValueError when ``image`` is smaller than :data:`MIN_SIZE` in height or width.

    ``name`` names the input in the message (``"ir and vis images"``, ``"image"``).

    Examples:
        >>> check_min_size(prepare(np.zeros((1, 1), np.uint8), "vis"), "ir and vis images")
        Traceback (most recent call last):
        ...
        ValueError: ir and vis images are 1x1 (HxW); NormFuse needs at least 8x8 pixels: ...
    """
    h, w = image.size
    if h < MIN_SIZE or w < MIN_SIZE:
        raise ValueError(
            f"{name} {'are' if ' and ' in name else 'is'} {h}x{w} (HxW); NormFuse needs at least "
            f"{MIN_SIZE}x{MIN_SIZE} pixels: each fused pixel is computed from a 29 x 29 neighbourhood, so a smaller "
            "image is mostly padding and its result means little; fuse a larger region, or pad the images yourself "
            "(e.g. np.pad(x, ..., mode='edge'))"
        )


def restore(luma: torch.Tensor, like: Prepared) -> np.ndarray | torch.Tensor:
    """Give a fused ``(B, 1, H, W)`` luminance back in the form of ``like`` (the visible input).

    Colour inputs get their chroma back (YCbCr -> RGB, clipped to [0, 1]);
    integer arrays are rounded to their dtype; tensors return on ``like``'s device.
    """
    out = luma.float().clamp(0, 1)
    if like.chroma is not None:
        import kornia

        out = kornia.color.ycbcr_to_rgb(torch.cat([out, like.chroma.to(out.device)], 1)).clamp(0, 1)
    elif like.channels == 3:  # grey content in a 3-channel input: keep the input's shape
        out = out.repeat(1, 3, 1, 1)
    if like.kind == "tensor":
        out = out.to(device=like.device, dtype=like.dtype)
        if like.ndim == 2:
            return out[0, 0]
        if like.ndim == 3:
            return out[0]
        return out
    arr = out[0].permute(1, 2, 0).cpu().numpy() if out.shape[1] == 3 else out[0, 0].cpu().numpy()
    if like.ndim == 3 and arr.ndim == 2:  # (H, W, 1) in -> (H, W, 1) out
        arr = arr[..., None]
    if np.issubdtype(like.dtype, np.integer):
        top = np.iinfo(like.dtype).max
        return np.rint(arr.astype(np.float64) * top).astype(like.dtype)
    return arr.astype(like.dtype)
