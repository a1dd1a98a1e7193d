"""Reusable building blocks: :class:`PEAN`, :class:`PEANResBlock` and :class:`ResBlock`.

Nothing in this module knows about NormFuse; the layers work in any 2-D
convolutional network.

PEAN (pixel-adaptive normalisation) normalises a feature map ``h`` per channel
and then modulates it with a per-pixel scale and shift predicted from a
condition map ``cond``::

    out = gamma(cond) * (h - mu_c) / sigma_c + beta(cond)

``gamma`` and ``beta`` have the full size ``(B, C, H, W)`` of ``h``.

Examples:
    >>> import torch
    >>> from normfuse.layers import PEAN
    >>> layer = PEAN(num_features=8, cond_channels=4)
    >>> h, cond = torch.randn(2, 8, 16, 16), torch.randn(2, 4, 8, 8)
    >>> layer(h, cond).shape
    torch.Size([2, 8, 16, 16])
"""

from __future__ import annotations

from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

from .folded import FoldedConv2d, FoldedModulation, FoldedPEANResBlock, FoldedResBlock
from .norm import Norm2d, NormStats, NormType

__all__ = [
    "NormType",
    "NormStats",
    "PEAN",
    "PEANResBlock",
    "ResBlock",
    "Norm2d",
    "make_activation",
]

_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=False),
    "leaky_relu": lambda: nn.LeakyReLU(0.2, inplace=False),
    "prelu": lambda: nn.PReLU(),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(),
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name.

    Args:
        name: one of ``"relu"``, ``"leaky_relu"`` (slope 0.2), ``"prelu"``, ``"gelu"``, ``"silu"``.

    Examples:
        >>> make_activation("leaky_relu")
        LeakyReLU(negative_slope=0.2)
    """
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


def same_conv(cin: int, cout: int, padding_mode: str, kernel_size: int = 3, bias: bool = True) -> nn.Conv2d:
    """A "same"-padded convolution (odd ``kernel_size``); ``padding_mode`` is checked by :class:`torch.nn.Conv2d`."""
    return nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, padding_mode=cast(PaddingMode, padding_mode),
                     bias=bias)


def _check_4d(name: str, x: torch.Tensor, channels: int | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got shape {tuple(x.shape)}")


class PEAN(nn.Module):
    """Pixel-adaptive normalisation: normalise ``h``, then scale and shift it per pixel from ``cond``.

    ``out = gamma * norm(h) + beta`` where ``gamma = 1 + conv_gamma(a)``,
    ``beta = conv_beta(a)`` and ``a = act(conv_shared(cond))``.  Writing gamma as
    ``1 + delta`` is only a parametrisation (the layer starts as a plain
    normalisation); it computes exactly ``gamma * (h - mu_c) / sigma_c + beta``.

    If ``cond`` has a different height and width from ``h`` it is resized to
    ``h``'s size (bilinear), so a low-resolution condition can steer a
    high-resolution feature map.

    Args:
        num_features: channels ``C`` of ``h``.
        cond_channels: channels ``K`` of ``cond``.
        hidden_channels: width of the shared conv on ``cond`` (default ``C``).
        norm: ``"batch"`` (running statistics, as in the NormFuse letter),
            ``"instance"`` or ``"none"``.
        kernel_size: kernel of the condition convolutions (odd).
        padding_mode: padding of the condition convolutions (``"zeros"``, ``"reflect"``, ...).
        activation: activation after the shared conv (see :func:`make_activation`).

    Shapes:
        - ``h``: ``(B, C, H, W)`` float
        - ``cond``: ``(B, K, H', W')`` float
        - output: ``(B, C, H, W)``, dtype of ``h`` (or of autocast)

    Examples:
        >>> import torch
        >>> pean = PEAN(16, cond_channels=3, hidden_channels=8)
        >>> h = torch.randn(2, 16, 32, 32, requires_grad=True)
        >>> cond = torch.randn(2, 3, 32, 32, requires_grad=True)
        >>> out = pean(h, cond)
        >>> out.sum().backward()
        >>> out.shape, h.grad is not None, cond.grad is not None
        (torch.Size([2, 16, 32, 32]), True, True)
    """

    def __init__(
        self,
        num_features: int,
        cond_channels: int,
        hidden_channels: int | None = None,
        norm: NormType = "batch",
        kernel_size: int = 3,
        padding_mode: str = "zeros",
        activation: str = "relu",
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        hidden = num_features if hidden_channels is None else hidden_channels
        self.num_features = num_features
        self.cond_channels = cond_channels
        self.norm = Norm2d(num_features, norm)
        self.shared = nn.Sequential(
            same_conv(cond_channels, hidden, padding_mode, kernel_size),
            make_activation(activation),
        )
        self.to_gamma = same_conv(hidden, num_features, padding_mode, kernel_size)
        self.to_beta = same_conv(hidden, num_features, padding_mode, kernel_size)

    def modulation(self, cond: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the per-pixel ``(gamma, beta)``, each ``(B, C, *size)``, predicted from ``cond``."""
        _check_4d("cond", cond, self.cond_channels)
        if tuple(cond.shape[-2:]) != tuple(size):
            cond = F.interpolate(cond, size=size, mode="bilinear", align_corners=False)
        a = self.shared(cond)
        return 1.0 + self.to_gamma(a), self.to_beta(a)

    def forward(self, h: torch.Tensor, cond: torch.Tensor, norm_stats: NormStats = "running") -> torch.Tensor:
        """Modulate ``h`` with ``cond``; ``norm_stats`` as in :class:`Norm2d` (eval mode only)."""
        _check_4d("h", h, self.num_features)
        if cond.ndim == 4 and cond.shape[0] != h.shape[0]:
            raise ValueError(f"h and cond must have the same batch size, got {tuple(h.shape)} and {tuple(cond.shape)}")
        gamma, beta = self.modulation(cond, (h.shape[-2], h.shape[-1]))
        return gamma * self.norm(h, norm_stats) + beta

    def fused_modulation(self, dtype: torch.dtype = torch.float32) -> FoldedModulation:
        """``h -> gamma * h + beta`` folded for inference (see :class:`~normfuse.folded.FoldedModulation`).

        ``self.norm`` is folded into the convolution before (:meth:`Norm2d.fold_into`).
        """
        shared, act = self.shared
        if not isinstance(shared, nn.Conv2d):  # pragma: no cover - built that way in __init__
            raise TypeError(f"PEAN.shared must start with a Conv2d, got {type(shared).__name__}")
        exact = dtype == torch.float32
        return FoldedModulation(FoldedConv2d.fold(shared, activation=act, dtype=dtype),
                                FoldedConv2d.fold(self.to_gamma, dtype=dtype, bias_plus_one=exact),
                                FoldedConv2d.fold(self.to_beta, dtype=dtype), gamma_has_one=exact)


class PEANResBlock(nn.Module):
    """Residual block whose normalisations are :class:`PEAN` layers steered by one condition map.

    ``out = act(PEAN(conv(act(PEAN(conv(x), cond))), cond) + shortcut(x))``, where
    ``shortcut`` is the identity when ``in_channels == out_channels`` and a 1x1
    convolution otherwise.

    Args:
        in_channels: channels of ``x``.
        out_channels: channels of the output.
        cond_channels: channels of ``cond``.
        hidden_channels: hidden width of the PEAN condition convs (default ``out_channels``).
        norm: as in :class:`PEAN`.
        padding_mode: as in :class:`PEAN`; also applies to the main convs.
        activation: as in :class:`PEAN`.

    Shapes:
        - ``x``: ``(B, in_channels, H, W)``; ``cond``: ``(B, cond_channels, H', W')``
        - output: ``(B, out_channels, H, W)``

    Examples:
        >>> import torch
        >>> block = PEANResBlock(8, 4, cond_channels=2)
        >>> block(torch.randn(1, 8, 10, 12), torch.randn(1, 2, 10, 12)).shape
        torch.Size([1, 4, 10, 12])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        cond_channels: int,
        hidden_channels: int | None = None,
        norm: NormType = "batch",
        padding_mode: str = "zeros",
        activation: str = "relu",
    ):
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = same_conv(in_channels, out_channels, padding_mode, bias=False)
        self.pean1 = PEAN(out_channels, cond_channels, hidden_channels, norm, 3, padding_mode, activation)
        self.act1 = make_activation(activation)
        self.conv2 = same_conv(out_channels, out_channels, padding_mode, bias=False)
        self.pean2 = PEAN(out_channels, cond_channels, hidden_channels, norm, 3, padding_mode, activation)
        self.act2 = make_activation(activation)
        self.shortcut = (
            nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor, norm_stats: NormStats = "running") -> torch.Tensor:
        """Apply the block; ``norm_stats`` as in :class:`Norm2d` (eval mode only)."""
        _check_4d("x", x, self.in_channels)
        y = self.act1(self.pean1(self.conv1(x), cond, norm_stats))
        y = self.pean2(self.conv2(y), cond, norm_stats)
        return self.act2(y + self.shortcut(x))

    def fused(self, dtype: torch.dtype = torch.float32) -> FoldedPEANResBlock:
        """This block folded for inference in ``dtype`` (eval mode, running statistics)."""
        return FoldedPEANResBlock(
            FoldedConv2d.fold(self.conv1, self.pean1.norm, dtype=dtype), self.pean1.fused_modulation(dtype),
            FoldedConv2d.fold(self.conv2, self.pean2.norm, dtype=dtype), self.pean2.fused_modulation(dtype),
            _fused_shortcut(self.shortcut, dtype), self.act1, self.act2)


class ResBlock(nn.Module):
    """Plain residual block: ``act(norm(conv(act(norm(conv(x))))) + shortcut(x))``.

    Args:
        in_channels: channels of ``x``.
        out_channels: channels of the output (default ``in_channels``); a 1x1
            convolution adapts the shortcut when they differ.
        norm: as in :class:`PEAN`.
        padding_mode: as in :class:`PEAN`.
        activation: as in :class:`PEAN`.

    Shapes:
        ``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)``.

    Examples:
        >>> import torch
        >>> ResBlock(8)(torch.randn(1, 8, 9, 9)).shape
        torch.Size([1, 8, 9, 9])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        norm: NormType = "batch",
        padding_mode: str = "zeros",
        activation: str = "relu",
    ):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels = in_channels
        self.conv1 = same_conv(in_channels, out_channels, padding_mode, bias=False)
        self.norm1 = Norm2d(out_channels, norm, affine=True)
        self.act1 = make_activation(activation)
        self.conv2 = same_conv(out_channels, out_channels, padding_mode, bias=False)
        self.norm2 = Norm2d(out_channels, norm, affine=True)
        self.act2 = make_activation(activation)
        self.shortcut = (
            nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor, norm_stats: NormStats = "running") -> torch.Tensor:
        """Apply the block; ``norm_stats`` as in :class:`Norm2d` (eval mode only)."""
        _check_4d("x", x, self.in_channels)
        y = self.act1(self.norm1(self.conv1(x), norm_stats))
        y = self.norm2(self.conv2(y), norm_stats)
        return self.act2(y + self.shortcut(x))

    def fused(self, dtype: torch.dtype = torch.float32) -> FoldedResBlock:
        """This block folded for inference in ``dtype`` (eval mode, running statistics)."""
        return FoldedResBlock(FoldedConv2d.fold(self.conv1, self.norm1, dtype=dtype),
                              FoldedConv2d.fold(self.conv2, self.norm2, dtype=dtype),
                              _fused_shortcut(self.shortcut, dtype), self.act1, self.act2)


def _fused_shortcut(shortcut: nn.Module, dtype: torch.dtype) -> FoldedConv2d | None:
    return FoldedConv2d.fold(shortcut, dtype=dtype) if isinstance(shortcut, nn.Conv2d) else None
