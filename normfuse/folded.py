"""Folded, inference-only versions of the layers in :mod:`normfuse.layers`.

A layer in eval mode with running statistics is a fixed function; its folded
version computes the same function with fewer passes over memory:

- a batch normalisation is folded into the convolution before it
  (:func:`torch.nn.utils.fusion.fuse_conv_bn_weights`);
- reflect and replicate padding never copy a whole feature map: the
  convolution runs with zero padding and its one-pixel border is recomputed
  from thin strips;
- activations, PEAN's modulation ``gamma * h + beta`` and the residual
  additions run in place.

Each layer builds its own folded version (``fused()`` in :mod:`normfuse.layers`);
this module only holds what those methods return.  A folded module keeps its
weights as buffers in one dtype (``float32`` or ``bfloat16``) and casts its
input to that dtype.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect")
    >>> x = torch.rand(1, 2, 9, 7)
    >>> bool((FoldedConv2d.fold(conv)(x) - conv(x)).abs().max() < 1e-6)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .norm import Norm2d

__all__ = ["FoldedConv2d", "FoldedResBlock", "FoldedModulation", "FoldedPEANResBlock", "inplace_activation"]

Activation = Callable[[torch.Tensor], torch.Tensor]


def inplace_activation(module: nn.Module | None) -> Activation | None:
    """An in-place version of ``module`` where one exists (ReLU, LeakyReLU, Tanh), else ``module`` itself."""
    if isinstance(module, nn.LeakyReLU):
        slope = module.negative_slope
        return lambda x: F.leaky_relu_(x, slope)
    if isinstance(module, nn.ReLU):
        return torch.relu_
    if isinstance(module, nn.Tanh):
        return torch.tanh_
    return module


def _required_activation(module: nn.Module) -> Activation:
    """:func:`inplace_activation` of a block's activation, which every block has."""
    act = inplace_activation(module)
    if act is None:  # pragma: no cover - inplace_activation returns None only for None
        raise ValueError("a folded block needs an activation module")
    return act


def _only_running(norm_stats: str) -> None:
    if norm_stats != "running":
        raise ValueError(f"a folded layer uses its running statistics only, got norm_stats={norm_stats!r}")


class FoldedConv2d(nn.Module):
    """``act(conv(x))`` with fixed weights (any normalisation already folded in) and the conv's padding mode.

    Build it with :meth:`fold`.  ``weight`` and ``bias`` are buffers of ``dtype``;
    the input is cast to it.

    Shapes:
        ``(B, C_in, H, W)`` -> ``(B, C_out, H, W)`` of the weights' dtype.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, padding_mode: str,
                 activation: nn.Module | None = None):
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.pad = weight.shape[-1] // 2
        self.padding_mode = padding_mode
        self.activation = inplace_activation(activation)

    @classmethod
    def fold(cls, conv: nn.Conv2d, norm: Norm2d | None = None, activation: nn.Module | None = None,
             dtype: torch.dtype = torch.float32, bias_plus_one: bool = False) -> FoldedConv2d:
        """``activation(norm(conv(x)))`` (``norm`` in eval mode) as one folded convolution in ``dtype``.

        ``bias_plus_one`` adds 1 to every output (PEAN's ``gamma = 1 + conv(a)``).
        The convolution must be "same"-padded (odd kernel, padding ``k // 2``, stride 1).
        """
        if conv.stride != (1, 1) or conv.padding != (conv.kernel_size[0] // 2, conv.kernel_size[1] // 2):
            raise ValueError(f"only same-size convolutions can be folded, got {conv}")
        weight = conv.weight.detach().float()
        bias = None if conv.bias is None else conv.bias.detach().float()
        if norm is not None:
            weight, bias = norm.fold_into(weight, bias)
        if bias_plus_one:
            bias = (weight.new_zeros(weight.shape[0]) if bias is None else bias) + 1.0
        bias = None if bias is None else bias.to(dtype)
        return cls(weight.to(dtype), bias, conv.padding_mode, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._conv(x.to(self.weight.dtype))
        return out if self.activation is None else self.activation(out)

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        w, b, mode, pad = self.weight, self.bias, self.padding_mode, self.pad
        if pad == 0:
            return F.conv2d(x, w, b)
        if mode == "zeros":
            return F.conv2d(x, w, b, padding=pad)
        if pad != 1 or mode not in ("reflect", "replicate"):
            return F.conv2d(F.pad(x, (pad,) * 4, mode=mode), w, b)
        out = F.conv2d(x, w, b, padding=1)
        # rows 0 and H-1 (corners included), then columns 0 and W-1
        out[:, :, :1] = F.conv2d(F.pad(x[:, :, :2], (1, 1, 1, 0), mode=mode), w, b)
        out[:, :, -1:] = F.conv2d(F.pad(x[:, :, -2:], (1, 1, 0, 1), mode=mode), w, b)
        if x.shape[-2] <= 2:
            return out
        out[:, :, 1:-1, :1] = F.conv2d(F.pad(x[:, :, :, :2], (1, 0, 0, 0), mode=mode), w, b)
        out[:, :, 1:-1, -1:] = F.conv2d(F.pad(x[:, :, :, -2:], (0, 1, 0, 0), mode=mode), w, b)
        return out


class FoldedResBlock(nn.Module):
    """A folded :class:`~normfuse.layers.ResBlock`: ``act2(conv2(act1(conv1(x))) + shortcut(x))``.

    ``conv1`` and ``conv2`` carry the block's normalisations; ``shortcut`` is
    ``None`` for the identity.
    """

    def __init__(self, conv1: FoldedConv2d, conv2: FoldedConv2d, shortcut: FoldedConv2d | None,
                 act1: nn.Module, act2: nn.Module):
        super().__init__()
        self.conv1, self.conv2, self.shortcut = conv1, conv2, shortcut
        self.act1, self.act2 = _required_activation(act1), _required_activation(act2)

    def forward(self, x: torch.Tensor, norm_stats: str = "running") -> torch.Tensor:
        _only_running(norm_stats)
        x = x.to(self.conv1.weight.dtype)
        y = self.conv2(self.act1(self.conv1(x)))
        y += x if self.shortcut is None else self.shortcut(x)
        return self.act2(y)


class FoldedModulation(nn.Module):
    """The per-pixel part of a folded :class:`~normfuse.layers.PEAN`: ``h -> gamma(cond) * h + beta(cond)``.

    ``h`` is the already normalised feature map (the normalisation is folded
    into the convolution before it).  With ``gamma_has_one`` the 1 of
    ``gamma = 1 + to_gamma(a)`` is in ``to_gamma``'s bias (float32: one pass
    less); otherwise ``h`` is added afterwards (bfloat16: rounding
    ``1 + to_gamma(a)`` would cost far more precision than rounding ``to_gamma(a)``).
    """

    def __init__(self, shared: FoldedConv2d, to_gamma: FoldedConv2d, to_beta: FoldedConv2d, gamma_has_one: bool):
        super().__init__()
        self.shared, self.to_gamma, self.to_beta = shared, to_gamma, to_beta
        self.gamma_has_one = gamma_has_one

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if tuple(cond.shape[-2:]) != tuple(h.shape[-2:]):
            cond = F.interpolate(cond, size=h.shape[-2:], mode="bilinear", align_corners=False)
        a = self.shared(cond)
        gamma, beta = self.to_gamma(a), self.to_beta(a)
        out = beta.addcmul_(gamma, h)
        return out if self.gamma_has_one else out.add_(h)


class FoldedPEANResBlock(nn.Module):
    """A folded :class:`~normfuse.layers.PEANResBlock`.

    ``act2(pean2(conv2(act1(pean1(conv1(x), cond))), cond) + shortcut(x))`` with
    each PEAN's normalisation folded into the convolution before it.
    """

    def __init__(self, conv1: FoldedConv2d, pean1: FoldedModulation, conv2: FoldedConv2d, pean2: FoldedModulation,
                 shortcut: FoldedConv2d | None, act1: nn.Module, act2: nn.Module):
        super().__init__()
        self.conv1, self.pean1, self.conv2, self.pean2, self.shortcut = conv1, pean1, conv2, pean2, shortcut
        self.act1, self.act2 = _required_activation(act1), _required_activation(act2)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, norm_stats: str = "running") -> torch.Tensor:
        _only_running(norm_stats)
        x = x.to(self.conv1.weight.dtype)
        y = self.act1(self.pean1(self.conv1(x), cond))
        y = self.pean2(self.conv2(y), cond)
        y += x if self.shortcut is None else self.shortcut(x)
        return self.act2(y)
