"""Per-channel normalisation :class:`Norm2d` (batch, instance or none), which the layers of :mod:`normfuse.layers` use.

Examples:
    >>> import torch
    >>> Norm2d(4, "instance")(torch.randn(2, 4, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = ["NormType", "NormStats", "Norm2d", "choices"]

NormType = Literal["batch", "instance", "none"]
NormStats = Literal["running", "input"]


def choices(literal: object) -> str:
    """The values of a ``Literal`` type as text: ``'a', 'b' or 'c'``."""
    quoted = [repr(v) for v in get_args(literal)]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


class Norm2d(nn.Module):
    """Per-channel normalisation ``(h - mu_c) / sigma_c``, optionally followed by a learned affine map.

    ``norm="batch"`` keeps running statistics like :class:`torch.nn.BatchNorm2d`.
    In eval mode it normally uses them (``norm_stats="running"``); calling it with
    ``norm_stats="input"`` makes it normalise every sample
    with the mean and variance of its own feature map instead, which is what a
    decoder wants when it is fed features whose scale differs from training, such
    as the sum of two encodings.  ``norm="instance"`` always uses the sample's own
    statistics; ``norm="none"`` is the identity.

    Args:
        num_features: channels ``C``.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        affine: add a learned per-channel scale and shift (as BatchNorm2d does).

    Shapes:
        input and output ``(B, C, H, W)``, any floating dtype.

    Examples:
        >>> import torch
        >>> norm = Norm2d(4, "batch").eval()
        >>> norm(torch.randn(1, 4, 5, 5)).shape
        torch.Size([1, 4, 5, 5])
    """

    weight: torch.Tensor | None
    bias: torch.Tensor | None
    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor

    def __init__(self, num_features: int, norm: NormType = "batch", affine: bool = False, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__()
        if norm not in get_args(NormType):
            raise ValueError(f"norm must be {choices(NormType)}, got {norm!r}")
        self.num_features = num_features
        self.norm = norm
        self.eps = eps
        self.momentum = momentum
        if affine and norm != "none":
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if norm == "batch":
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, h: torch.Tensor, norm_stats: NormStats = "running") -> torch.Tensor:
        """Normalise ``h``; ``norm_stats="input"`` uses per-sample statistics in eval mode."""
        if self.norm == "none":
            return h
        if self.norm == "instance" or (not self.training and norm_stats == "input"):
            return F.instance_norm(h, weight=self.weight, bias=self.bias, eps=self.eps)
        if self.training:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(
            h, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, norm={self.norm!r}, affine={self.weight is not None}"

    def fold_into(self, weight: torch.Tensor, bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight and bias of ``self(conv(x))`` in eval mode (running statistics) for a conv with ``weight, bias``."""
        if self.norm == "none":
            return weight, bias
        if self.norm != "batch":
            raise ValueError(f"cannot fold {self.norm!r} normalisation into a convolution")
        gain, shift = (None if p is None else p.detach().float() for p in (self.weight, self.bias))
        w, b = fuse_conv_bn_weights(weight, bias, self.running_mean.float(), self.running_var.float(), self.eps,
                                    gain, shift)
        return w.detach(), b.detach()
