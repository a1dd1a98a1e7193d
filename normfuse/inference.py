"""A fast, inference-only fusion path: :class:`FusionPlan`.

:meth:`NormFuseNet.fuse <normfuse.network.NormFuseNet.fuse>` is the reference:
it runs every layer as written.  A :class:`FusionPlan` is a copy of the
network in which every layer is replaced by its folded version (each layer's
``fused()`` method, :mod:`normfuse.folded`): normalisations folded into the
convolutions, padding without copies, in-place activations, channels_last
tensors.  It computes the same function with fewer passes over memory, which
is what limits a narrow network on a CPU.

In float32 the plan agrees with the reference to float rounding.
``FusionPlan(net, dtype=torch.bfloat16)`` runs every layer in bfloat16 except
those of :data:`~normfuse.network.BF16_FLOAT32_LAYERS`; that is within one grey
level of float32 only for a network trained to tolerate it
(:mod:`normfuse.train.precision`).  Speeds and errors are in
``docs/performance.md`` of the project.

Examples:
    >>> import torch
    >>> from normfuse.network import NormFuseConfig, NormFuseNet
    >>> net = NormFuseNet(NormFuseConfig(width=8)).eval()
    >>> with torch.inference_mode():
    ...     out = FusionPlan(net)(torch.rand(1, 1, 24, 32), torch.rand(1, 1, 24, 32))
    >>> out.shape, out.dtype
    (torch.Size([1, 1, 24, 32]), torch.float32)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from .folded import FoldedConv2d
from .network import BF16_FLOAT32_LAYERS, Features, FusionRule, NormFuseNet, fuse_features

__all__ = ["FusionPlan", "plan_supported"]


def plan_supported(net: NormFuseNet) -> str | None:
    """Return ``None`` if :class:`FusionPlan` can run ``net``, else the reason it cannot."""
    cfg = net.config
    if cfg.norm == "instance":
        return "instance normalisation cannot be folded into the convolutions"
    if cfg.fusion_norm_stats != "running":
        return "fusion_norm_stats='input' normalises with the fused maps' own statistics"
    return None


def _folded_copy(module: nn.Module, dtype_of: Callable[[str], torch.dtype], name: str = "") -> nn.Module:
    """A copy of ``module`` in which every layer that can fold itself is replaced by its folded version.

    A module with a ``fused(dtype)`` method (see :mod:`normfuse.layers`) or a
    plain :class:`~torch.nn.Conv2d` is folded in ``dtype_of(name)``; a module
    that only holds others becomes a new module of its class (same attributes,
    no weights copied) holding their folded copies; anything else is copied.
    """
    fused = getattr(module, "fused", None)
    if callable(fused):
        return fused(dtype_of(name))
    if isinstance(module, nn.Conv2d):
        return FoldedConv2d.fold(module, dtype=dtype_of(name))
    if not module._modules or module._parameters or module._buffers:
        return copy.deepcopy(module)
    shell = type(module).__new__(type(module))
    nn.Module.__init__(shell)
    shell.__dict__.update({k: v for k, v in vars(module).items() if k not in vars(shell)})
    for child_name, child in module.named_children():
        setattr(shell, child_name, _folded_copy(child, dtype_of, f"{name}.{child_name}" if name else child_name))
    return shell.eval()


class FusionPlan(nn.Module):
    """The fuse path of a :class:`~normfuse.network.NormFuseNet`, folded for fast inference.

    The plan copies the network's weights when it is built: rebuild it after
    changing the network.  It is inference-only (no gradients flow to the
    network's parameters).

    Args:
        net: the network (its eval-mode behaviour is what the plan computes).
        channels_last: keep activations channels_last (fastest with oneDNN on CPU).
        dtype: ``torch.float32`` or ``torch.bfloat16``.  In bfloat16 every layer
            runs in bfloat16 except those of
            :data:`~normfuse.network.BF16_FLOAT32_LAYERS` (the first reads the
            images in float32, the last gives float32 output).

    Shapes:
        ``ir``, ``vis``: ``(B, in_channels, H, W)`` float in [0, 1] with ``H, W >= 2``;
        output ``(B, in_channels, H, W)`` float32 in [0, 1].

    Raises:
        ValueError: the network cannot be folded (see :func:`plan_supported`), or ``dtype`` is neither.

    Examples:
        >>> import torch
        >>> from normfuse.network import NormFuseConfig, NormFuseNet
        >>> net = NormFuseNet(NormFuseConfig(width=8)).eval()
        >>> plan = FusionPlan(net)
        >>> ir, vis = torch.rand(1, 1, 24, 32), torch.rand(1, 1, 24, 32)
        >>> with torch.inference_mode():
        ...     fast, ref = plan(ir, vis), net.fuse(ir, vis)
        >>> fast.shape, bool((fast - ref).abs().max() < 1e-4)
        (torch.Size([1, 1, 24, 32]), True)
    """

    def __init__(self, net: NormFuseNet, channels_last: bool = True, dtype: torch.dtype = torch.float32):
        super().__init__()
        reason = plan_supported(net)
        if reason is not None:
            raise ValueError(f"FusionPlan cannot run this network: {reason}")
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"dtype must be torch.float32 or torch.bfloat16, got {dtype}")
        self.dtype = dtype
        self.config = net.config
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        found: set[str] = set()

        def dtype_of(name: str) -> torch.dtype:
            if name in BF16_FLOAT32_LAYERS:
                found.add(name)
                return torch.float32
            return dtype

        self.net = cast(NormFuseNet, _folded_copy(net, dtype_of))  # a NormFuseNet holding folded layers
        missing = set(BF16_FLOAT32_LAYERS) - found
        if missing:
            raise RuntimeError(f"BF16_FLOAT32_LAYERS names layers the network does not have: {sorted(missing)}")
        if channels_last:
            for buf in self.net.buffers():
                if buf.ndim == 4:
                    buf.data = buf.data.contiguous(memory_format=torch.channels_last)

    def _input(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        device = next(self.net.buffers()).device
        return x.to(device, dtype).contiguous(memory_format=self.memory_format)

    def encode(self, x: torch.Tensor) -> Features:
        """``(B, C, H, W)`` images -> :class:`~normfuse.network.Features` in the plan's dtype."""
        return self.net.encode(self._input(x, torch.float32))

    def decode(self, feats: Features) -> torch.Tensor:
        """:class:`~normfuse.network.Features` (any float dtype) -> ``(B, C, H, W)`` float32 image in [0, 1]."""
        return self.net.decode(feats.map(lambda t: self._input(t, self.dtype)))

    def forward(self, ir: torch.Tensor, vis: torch.Tensor, rule: FusionRule | None = None) -> torch.Tensor:
        """Fuse ``ir`` and ``vis`` with ``rule`` (default: the network's ``config.fusion``)."""
        if ir.shape != vis.shape:
            raise ValueError(f"ir and vis must have the same shape, got {tuple(ir.shape)} and {tuple(vis.shape)}")
        # one image at a time: fewer large allocations
        fused = fuse_features(self.encode(ir), self.encode(vis), rule or self.config.fusion)
        return self.net.decode(fused)
