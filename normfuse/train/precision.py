"""Training a network to give the same fused image in bfloat16 as in float32.

A network trained with the letter's recipe alone can be very sensitive to
rounding: the 120-epoch weights (``weights/normfuse-roadscene-120ep``) move
fused pixels by up to 7 grey levels when
:class:`~normfuse.inference.FusionPlan` runs them in bfloat16, and
half-grey-level changes of the input could move them by 40.  Fine-tuning with
:func:`bf16_gap_loss` between the fused image computed in float32 and the same
image under :func:`simulated_bf16` teaches the network to tolerate that
rounding: the bundled model, fine-tuned this way in five stages, stays within
one grey level of float32 on every TNO and RoadScene test pixel
(``weights/README.md``, ``docs/performance.md``).

:func:`simulated_bf16` rounds what the bf16 plan rounds (the input, weights,
bias and output of every convolution but the first and the last, the last one's
input, every normalisation's output, PEAN's ``gamma = 1 + conv(a)`` and
``beta`` and its output), with a straight-through gradient, so the rounding
acts as fixed noise during back-propagation.  Rounding ``gamma`` with its 1 is
coarser than the plan, which adds the 1 afterwards: the simulation errs on the
pessimistic side.  ``path="openvino"`` simulates the OpenVINO bfloat16 graph
(:mod:`normfuse.runtime`) instead, which keeps no layer in float32: every
convolution rounds its weight, bias and output (the first one reads grey levels
0-255, which bfloat16 holds exactly, so its input stays exact), and every
activation, residual block and the decoder's output (the sigmoid) are rounded
too.

Examples:
    >>> import torch
    >>> from normfuse.network import NormFuseConfig, NormFuseNet
    >>> net = NormFuseNet(NormFuseConfig(width=4)).eval()
    >>> x = torch.rand(1, 1, 16, 16)
    >>> with simulated_bf16(net):
    ...     y = net(x)
    >>> bool((y - net(x)).abs().max() < 0.05)
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import PEAN, Norm2d, PEANResBlock, ResBlock
from ..network import BF16_FLOAT32_LAYERS, Decoder

__all__ = ["BF16Path", "round_bf16", "simulated_bf16", "bf16_gap_loss"]

#: Which bfloat16 path :func:`simulated_bf16` rounds like: the torch fusion plan or the OpenVINO graph.
BF16Path = Literal["torch", "openvino"]

#: Modules whose output the OpenVINO graph holds in bfloat16 besides convolutions and normalisations.
_OPENVINO_ROUNDED = (nn.LeakyReLU, nn.ReLU, nn.PReLU, nn.Tanh, ResBlock, PEANResBlock, Decoder)


def _float32_layer(name: str) -> str | None:
    """What the layer of :data:`~normfuse.network.BF16_FLOAT32_LAYERS` holding module ``name`` reads, or ``None``."""
    for layer, reads in BF16_FLOAT32_LAYERS.items():
        if f".{layer}." in f".{name}.":
            return reads
    return None


def round_bf16(x: torch.Tensor, error_scale: float = 1.0) -> torch.Tensor:
    """``x`` rounded to bfloat16 (returned in ``x``'s dtype) with a straight-through gradient.

    ``error_scale`` multiplies the rounding error (``1``: exact bfloat16
    rounding; ``2``: twice as far from ``x``, a margin for training).
    """
    return x + error_scale * (x.to(torch.bfloat16).to(x.dtype) - x).detach()


@contextlib.contextmanager
def simulated_bf16(net: nn.Module, error_scale: float = 1.0, path: BF16Path = "torch") -> Iterator[nn.Module]:
    """Within the block, ``net`` computes in float32 but rounds like the bf16 fusion plan (``path="torch"``).

    Every ``nn.Conv2d`` of ``net`` rounds its input, weight, bias and output to
    bfloat16, except in the float32 layers of
    :data:`~normfuse.network.BF16_FLOAT32_LAYERS`: the one that reads the image
    is left exact, the one that reads bfloat16 features rounds only its input;
    every :class:`~normfuse.layers.Norm2d` and :class:`~normfuse.layers.PEAN`
    rounds its output, and PEAN its ``gamma`` and ``beta``.  Gradients pass
    straight through the rounding.  ``error_scale`` multiplies every rounding
    error (see :func:`round_bf16`): training against errors larger than
    bfloat16's leaves a margin for what the simulation does not model exactly.
    ``path="openvino"``: like the OpenVINO bf16 graph, no layer in float32 (the
    image-reading convolution rounds its weight and output but not its input,
    the grey levels), and the outputs of activations, residual blocks and the
    decoder are rounded as well.  The module is restored on exit.
    """
    if not error_scale > 0:
        raise ValueError(f"error_scale must be positive, got {error_scale}")
    if path not in get_args(BF16Path):
        raise ValueError(f"path must be one of {get_args(BF16Path)}, got {path!r}")
    openvino = path == "openvino"

    def rnd(x: torch.Tensor) -> torch.Tensor:
        return round_bf16(x, error_scale)

    patched: list[tuple[nn.Module, str]] = []
    handles = []
    try:
        for name, m in net.named_modules():
            reads = None if openvino else _float32_layer(name)
            if isinstance(m, nn.Conv2d) and reads != "image":
                exact_input = openvino and _float32_layer(name) == "image"
                m.forward = _rounded_conv_forward(m, rnd, bf16=reads is None,  # type: ignore[assignment]
                                                  round_input=not exact_input)
                patched.append((m, "forward"))
            elif isinstance(m, (Norm2d, PEAN)) or (openvino and isinstance(m, _OPENVINO_ROUNDED)):
                handles.append(m.register_forward_hook(lambda _mod, _inp, out: rnd(out)))
                if isinstance(m, PEAN):
                    m.modulation = _rounded_modulation(m, rnd)  # type: ignore[assignment]
                    patched.append((m, "modulation"))
            if openvino and isinstance(m, Decoder):  # the fused features: sums of two encodings, rounded
                handles.append(m.register_forward_pre_hook(lambda _mod, args: (args[0].map(rnd), *args[1:])))
        yield net
    finally:
        for m, attr in patched:
            delattr(m, attr)  # back to the class's method
        for h in handles:
            h.remove()


Rounding = Callable[[torch.Tensor], torch.Tensor]


def _rounded_conv_forward(m: nn.Conv2d, rnd: Rounding, bf16: bool, round_input: bool = True) -> Rounding:
    """``m.forward`` rounding the input (unless ``round_input`` is false; and, for a bf16 layer, weight, bias and
    output) with ``rnd``."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        if round_input:
            x = rnd(x)
        if not bf16:
            return m._conv_forward(x, m.weight, m.bias)
        bias = None if m.bias is None else rnd(m.bias)
        return rnd(m._conv_forward(x, rnd(m.weight), bias))

    return forward


def _rounded_modulation(m: PEAN, rnd: Rounding) -> Callable[[torch.Tensor, tuple[int, int]], tuple[torch.Tensor, torch.Tensor]]:
    """``m.modulation`` with ``gamma`` and ``beta`` rounded by ``rnd``."""

    def rounded(cond: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        gamma, beta = PEAN.modulation(m, cond, size)
        return rnd(gamma), rnd(beta)

    return rounded


def bf16_gap_loss(exact: torch.Tensor, rounded: torch.Tensor, tolerance: float = 0.5) -> torch.Tensor:
    """How far ``rounded`` is from ``exact``, in 8-bit grey levels.

    ``mean(d^2) + 10 * mean(relu(|d| - tolerance)^2)`` with ``d = 255 (rounded - exact)``:
    the second term concentrates on the pixels that would move by more than
    ``tolerance`` grey levels.  Both images ``(B, C, H, W)`` in [0, 1].

    Examples:
        >>> a = torch.zeros(1, 1, 2, 2)
        >>> round(float(bf16_gap_loss(a, a + 1 / 255)), 4)
        3.5
    """
    d = (rounded.float() - exact.float()) * 255.0
    return d.pow(2).mean() + 10.0 * F.relu(d.abs() - tolerance).pow(2).mean()
