"""A fast, inference-only fusion path: :class:`FusionPlan`.

:meth:`NormFuseNet.fuse <normfuse.network.NormFuseNet.fuse>` is the reference:
it runs every layer as written.  A :class:`FusionPlan` computes the same
function with fewer passes over memory, which is what limits a network this
narrow (16 channels) on a CPU:

- every eval-mode batch normalisation (running statistics) is folded into the
  convolution before it (a per-channel scale of the weights and a bias), and
  PEAN's ``gamma = 1 + conv(a)`` gets its 1 in the bias;
- reflect and replicate padding never copy a whole feature map: each
  convolution runs with zero padding and its one-pixel border is recomputed
  from thin strips (``F.pad`` of every map was the slowest step);
- activations, the PEAN modulation ``gamma * h + beta`` and the residual
  additions run in place;
- tensors are channels_last, where oneDNN's convolutions are fastest.

In float32 the plan agrees with the reference to float rounding (on real TNO
pairs at most one grey level after rounding to 8 bits; ``tests/test_inference.py``).
``FusionPlan(net, dtype=torch.bfloat16)`` runs all but the first and last
layers in bfloat16: about twice as fast again on CPUs with AVX512-BF16 or AMX,
but within one grey level of float32 only for a network trained to tolerate
it (:mod:`normfuse.train.precision`): the bundled one is, the 120-epoch model
it was fine-tuned from moves 0.85 % of TNO pixels by more.  Measured speeds
and errors are in ``docs/performance.md``.

Examples:
    >>> import torch
    >>> from normfuse.network import NormFuseConfig, NormFuseNet
    >>> from normfuse.inference import FusionPlan
    >>> net = NormFuseNet(NormFuseConfig(width=8)).eval()
    >>> plan = FusionPlan(net)
    >>> ir, vis = torch.rand(1, 1, 24, 32), torch.rand(1, 1, 24, 32)
    >>> with torch.inference_mode():
    ...     fast, ref = plan(ir, vis), net.fuse(ir, vis)
    >>> fast.shape, bool((fast - ref).abs().max() < 1e-4)
    (torch.Size([1, 1, 24, 32]), True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Norm2d, PEANResBlock, ResBlock
from .network import Features, FusionRule, NormFuseNet, fuse_features

__all__ = ["FusionPlan", "plan_supported"]


def plan_supported(net: NormFuseNet) -> str | None:
    """Return ``None`` if :class:`FusionPlan` can run ``net``, else the reason it cannot."""
    cfg = net.config
    if cfg.norm == "instance":
        return "instance normalisation cannot be folded into the convolutions"
    if cfg.fusion_norm_stats != "running":
        return "fusion_norm_stats='input' normalises with the fused maps' own statistics"
    return None


class _Conv(nn.Module):
    """A convolution with folded normalisation and the network's padding mode.

    Reflect and replicate padding of a 3x3 convolution are done without padding
    the whole input (a full copy of every feature map, the slowest step of a
    narrow network): the convolution runs with zero padding, and its one-pixel
    border is recomputed from four thin strips padded the right way.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, padding_mode: str):
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.pad = weight.shape[-1] // 2
        self.padding_mode = padding_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b, mode = self.weight, self.bias, self.padding_mode
        if self.pad == 0:
            return F.conv2d(x, w, b)
        if mode == "zeros":
            return F.conv2d(x, w, b, padding=self.pad)
        if self.pad != 1 or mode not in ("reflect", "replicate"):
            return F.conv2d(F.pad(x, (self.pad,) * 4, mode=mode), w, b)
        out = F.conv2d(x, w, b, padding=1)
        # rows 0 and H-1 (corners included), then columns 0 and W-1
        out[:, :, :1] = F.conv2d(F.pad(x[:, :, :2], (1, 1, 1, 0), mode=mode), w, b)
        out[:, :, -1:] = F.conv2d(F.pad(x[:, :, -2:], (1, 1, 0, 1), mode=mode), w, b)
        if x.shape[-2] <= 2:
            return out
        out[:, :, 1:-1, :1] = F.conv2d(F.pad(x[:, :, :, :2], (1, 0, 0, 0), mode=mode), w, b)
        out[:, :, 1:-1, -1:] = F.conv2d(F.pad(x[:, :, :, -2:], (0, 1, 0, 0), mode=mode), w, b)
        return out


def _folded(conv: nn.Conv2d, norm: Norm2d | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weights and bias of ``norm(conv(x))`` as one convolution (``norm`` in eval mode, running statistics)."""
    w = conv.weight.detach().float()
    b = None if conv.bias is None else conv.bias.detach().float()
    if norm is None or norm.norm == "none":
        return w, b
    if norm.norm != "batch":
        raise ValueError(f"cannot fold {norm.norm!r} normalisation into a convolution")
    scale = torch.rsqrt(norm.running_var.float() + norm.eps)
    shift = -norm.running_mean.float() * scale
    if norm.weight is not None:
        scale = scale * norm.weight.float()
        shift = shift * norm.weight.float() + norm.bias.float()
    if b is not None:
        shift = shift + b * scale
    return w * scale[:, None, None, None], shift


def _plus_one(conv: tuple[torch.Tensor, torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution ``1 + conv(x)``."""
    w, b = conv
    return w, (w.new_zeros(w.shape[0]) if b is None else b) + 1.0


def _activation(module: nn.Module):
    """An in-place version of the network's activation where one exists."""
    if isinstance(module, nn.LeakyReLU):
        slope = module.negative_slope
        return lambda x: F.leaky_relu_(x, slope)
    if isinstance(module, nn.ReLU):
        return torch.relu_
    return module


class _PlainBlock(nn.Module):
    """:class:`~normfuse.layers.ResBlock` with folded normalisations."""

    def __init__(self, block: ResBlock, padding_mode: str):
        super().__init__()
        self.conv1 = _Conv(*_folded(block.conv1, block.norm1), padding_mode)
        self.conv2 = _Conv(*_folded(block.conv2, block.norm2), padding_mode)
        self.shortcut = None if isinstance(block.shortcut, nn.Identity) else _Conv(*_folded(block.shortcut), padding_mode)
        self.act1, self.act2 = _activation(block.act1), _activation(block.act2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act1(self.conv1(x)))
        y += x if self.shortcut is None else self.shortcut(x)
        return self.act2(y)


class _PEANPlanBlock(nn.Module):
    """:class:`~normfuse.layers.PEANResBlock` whose PEAN inputs ``a1, a2`` (after the shared convs) are given."""

    def __init__(self, block: PEANResBlock, padding_mode: str, one_in_bias: bool = True):
        super().__init__()
        self.conv1 = _Conv(*_folded(block.conv1, block.pean1.norm), padding_mode)
        self.conv2 = _Conv(*_folded(block.conv2, block.pean2.norm), padding_mode)
        self.shortcut = None if isinstance(block.shortcut, nn.Identity) else _Conv(*_folded(block.shortcut), padding_mode)
        # PEAN's gamma is 1 + to_gamma(a).  In float32 the 1 goes into the bias (one
        # pass less); in bfloat16 it is added as h afterwards, because rounding
        # 1 + to_gamma(a) to bfloat16 costs ten times more precision than rounding to_gamma(a)
        self.one_in_bias = one_in_bias
        gamma = _plus_one if one_in_bias else (lambda conv: conv)
        self.g1 = _Conv(*gamma(_folded(block.pean1.to_gamma)), padding_mode)
        self.b1 = _Conv(*_folded(block.pean1.to_beta), padding_mode)
        self.g2 = _Conv(*gamma(_folded(block.pean2.to_gamma)), padding_mode)
        self.b2 = _Conv(*_folded(block.pean2.to_beta), padding_mode)
        self.act1, self.act2 = _activation(block.act1), _activation(block.act2)

    def _modulate(self, h: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """``(1 + to_gamma(a)) * h + beta``, in place in ``beta``."""
        if self.one_in_bias:
            return beta.addcmul_(gamma, h)
        return beta.addcmul_(gamma, h).add_(h)

    def forward(self, x: torch.Tensor, a1: torch.Tensor, a2: torch.Tensor) -> torch.Tensor:
        y = self.act1(self._modulate(self.conv1(x), self.g1(a1), self.b1(a1)))
        y = self._modulate(self.conv2(y), self.g2(a2), self.b2(a2))
        y += x if self.shortcut is None else self.shortcut(x)
        return self.act2(y)


class FusionPlan(nn.Module):
    """The fuse path of a :class:`~normfuse.network.NormFuseNet`, folded for fast inference.

    The plan copies the network's weights when it is built: rebuild it after
    changing the network.  It is inference-only (no gradients flow to the
    network's parameters).

    Args:
        net: the network (its eval-mode behaviour is what the plan computes).
        channels_last: keep activations channels_last (fastest with oneDNN on CPU).
        dtype: ``torch.float32`` or ``torch.bfloat16``.  In bfloat16 every layer
            but the first and the last runs in bfloat16.  The first convolution
            reads the images in float32, because rounding the input pixels to
            bfloat16 (half a grey level) is what moves the output most; the last
            one and the sigmoid give float32 output, because bfloat16's spacing
            between 0.5 and 1 is already one grey level.

    Shapes:
        ``ir``, ``vis``: ``(B, in_channels, H, W)`` float in [0, 1] with ``H, W >= 2``;
        output ``(B, in_channels, H, W)`` float32 in [0, 1].

    Raises:
        ValueError: the network cannot be folded (see :func:`plan_supported`).
    """

    def __init__(self, net: NormFuseNet, channels_last: bool = True, dtype: torch.dtype = torch.float32):
        super().__init__()
        reason = plan_supported(net)
        if reason is not None:
            raise ValueError(f"FusionPlan cannot run this network: {reason}")
        cfg = net.config
        pm = cfg.padding_mode
        enc, dec = net.encoder, net.decoder
        self.config = cfg
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.conv_in = _Conv(*_folded(enc.conv_in[0], enc.conv_in[1]), pm)
        self.act_in = _activation(enc.conv_in[2])
        self.res1 = _PlainBlock(enc.res1, pm)
        self.res2 = _PlainBlock(enc.res2, pm)
        self.to_structure = _Conv(*_folded(enc.to_structure[0], enc.to_structure[1]), pm)
        self.to_detail = _Conv(*_folded(enc.to_detail[0], enc.to_detail[1]), pm)
        self.variant = cfg.variant
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"dtype must be torch.float32 or torch.bfloat16, got {dtype}")
        if cfg.variant == "normfuse":
            peans = [dec.block1.pean1, dec.block1.pean2, dec.block2.pean1, dec.block2.pean2]
            # the shared convs of all four PEAN layers read the fused detail map, once each
            self.shared = nn.ModuleList(_Conv(*_folded(p.shared[0]), pm) for p in peans)
            self.act_shared = _activation(peans[0].shared[1])
            exact = dtype == torch.float32
            self.block1 = _PEANPlanBlock(dec.block1, pm, one_in_bias=exact)
            self.block2 = _PEANPlanBlock(dec.block2, pm, one_in_bias=exact)
        else:
            self.block1 = _PlainBlock(dec.block1, pm)
            self.block2 = _PlainBlock(dec.block2, pm)
        self.conv_out = _Conv(*_folded(dec.conv_out), pm)
        self.dtype = dtype
        for name, buf in self.named_buffers():
            if not name.startswith(("conv_in.", "conv_out.")):
                buf.data = buf.data.to(dtype)
            if channels_last and buf.ndim == 4:
                buf.data = buf.data.contiguous(memory_format=torch.channels_last)

    def encode(self, x: torch.Tensor) -> Features:
        """``(B, C, H, W)`` images -> :class:`~normfuse.network.Features`, each map ``(B, width, H, W)``."""
        r1 = self.res1(self.act_in(self.conv_in(x)).to(self.dtype))
        r2 = self.res2(r1)
        return Features(torch.tanh_(self.to_structure(r2)), torch.tanh_(self.to_detail(r2)), (r1, r2))

    def forward(self, ir: torch.Tensor, vis: torch.Tensor, rule: FusionRule | None = None) -> torch.Tensor:
        """Fuse ``ir`` and ``vis`` with ``rule`` (default: the network's ``config.fusion``)."""
        if ir.shape != vis.shape:
            raise ValueError(f"ir and vis must have the same shape, got {tuple(ir.shape)} and {tuple(vis.shape)}")
        rule = rule or self.config.fusion
        w = self.conv_in.weight
        # one image at a time: fewer large allocations (which the C allocator maps and
        # page-faults afresh each time) made encoding both in one batch slower
        f_ir, f_vis = (self.encode(x.to(w.device, torch.float32).contiguous(memory_format=self.memory_format))
                       for x in (ir, vis))
        fused = fuse_features(f_ir, f_vis, rule)
        s, d, (r1, r2) = fused.structure, fused.detail, fused.skips
        if self.variant == "normfuse":
            a = [self.act_shared(conv(d)) for conv in self.shared]
            p1 = self.block1(s, a[0], a[1])
            p2 = self.block2(torch.cat([p1, r2], 1), a[2], a[3])
        else:
            p1 = self.block1(torch.cat([s, d], 1))
            p2 = self.block2(torch.cat([p1, r2], 1))
        # the last convolution and the sigmoid run in float32: between 0.5 and 1,
        # bfloat16's spacing (1/256) is already one grey level
        return torch.sigmoid(self.conv_out(torch.cat([p2, r1], 1).float()))
