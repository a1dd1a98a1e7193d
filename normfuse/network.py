"""The NormFuse network: configuration, encoder, decoder and the feature container.

Encoder (one grey image -> features, every map at the input's height and width)::

    x ─conv─► h0 ─ResBlock─► r1 ─ResBlock─► r2 ─┬─conv+tanh─► S  (structure)
                                                 └─conv+tanh─► D  (detail)

Decoder (``variant="normfuse"``)::

    S ─PEANResBlock(D)─► p1 ─cat(r2)─► PEANResBlock(D) ─► p2 ─cat(r1)─► conv ─sigmoid─► image

``variant="rescat"`` is the letter's ablation: the decoder starts from
``cat(S, D)`` and its blocks are plain :class:`~normfuse.layers.ResBlock` s
with batch normalisation instead of PEAN.

Examples:
    >>> import torch
    >>> from normfuse.network import NormFuseConfig, NormFuseNet
    >>> net = NormFuseNet(NormFuseConfig(width=8)).eval()
    >>> feats = net.encode(torch.rand(1, 1, 20, 30))
    >>> feats.structure.shape, net.decode(feats).shape
    (torch.Size([1, 8, 20, 30]), torch.Size([1, 1, 20, 30]))
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

import torch
from torch import nn

from .features import Features, FusionRule, fuse_features
from .folded import FoldedConv2d
from .layers import PEANResBlock, ResBlock, make_activation, same_conv
from .norm import Norm2d, NormStats, NormType, choices

__all__ = [
    "Features", "FusionRule", "NormFuseConfig", "NormFuseNet", "Encoder", "Decoder", "fuse_features",
    "BF16_FLOAT32_LAYERS",
]

Variant = Literal["normfuse", "rescat"]


@dataclass(frozen=True)
class NormFuseConfig:
    """Every architectural choice of :class:`NormFuseNet`; saved as ``config.json``.

    Attributes:
        in_channels: channels of the input image (1: luminance).
        width: channels of every feature map (S, D and the skips).
        pean_hidden: hidden width of the PEAN condition convs (``None``: ``width``).
        norm: normalisation of the encoder and the PEAN layers (``"batch"`` as in the letter).
        padding_mode: padding of the 3x3 convolutions; ``"reflect"`` avoids dark borders.
        activation: activation of the conv layers and residual blocks.
        variant: ``"normfuse"`` (PEAN decoder) or ``"rescat"`` (the letter's ablation).
        fusion: default :class:`FusionRule` used by :meth:`NormFuseNet.fuse`.
        fusion_norm_stats: statistics the decoder's normalisations use when it
            decodes *fused* features: ``"running"`` (training statistics) or
            ``"input"`` (each fused feature map's own statistics).
        bf16_tolerant: the model's fused images were checked to stay within one
            grey level of float32 when it runs in bfloat16 (the project's rule for
            a faster default, ``docs/performance.md``); ``precision="auto"`` then picks
            bfloat16 on CPUs with native bf16.  ``False`` unless a model was
            trained for it (``normfuse.train.precision``) and checked.
        openvino_bf16_tolerant: the same check passed by the OpenVINO bf16 path
            (``benchmarks/bench_drift.py --paths openvino-bf16``), which rounds
            differently from torch's (it keeps no layer in float32); with
            ``backend="openvino"`` or ``"auto"``, ``precision="auto"`` picks
            bfloat16 only for a model marked so.
    """

    in_channels: int = 1
    width: int = 32
    pean_hidden: int | None = None
    norm: NormType = "batch"
    padding_mode: str = "reflect"
    activation: str = "leaky_relu"
    variant: Variant = "normfuse"
    fusion: FusionRule = field(default_factory=FusionRule)
    fusion_norm_stats: NormStats = "running"
    bf16_tolerant: bool = False
    openvino_bf16_tolerant: bool = False

    def __post_init__(self) -> None:
        for name in ("in_channels", "width", "pean_hidden"):
            value = getattr(self, name)
            if not (value is None and name == "pean_hidden") and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if self.width < 1 or self.in_channels < 1:
            raise ValueError(f"width and in_channels must be positive, got {self.width}, {self.in_channels}")
        if self.pean_hidden is not None and self.pean_hidden < 1:
            raise ValueError(f"pean_hidden must be positive or null, got {self.pean_hidden}")
        # norm, padding_mode and activation are checked by the layers that use them
        for names, kind, what in ((("norm", "padding_mode", "activation", "variant", "fusion_norm_stats"), str,
                                   "a string"), (("bf16_tolerant", "openvino_bf16_tolerant"), bool, "true or false")):
            for name in names:
                if not isinstance(getattr(self, name), kind):
                    raise TypeError(f"{name} must be {what}, got {getattr(self, name)!r}")
        if self.variant not in get_args(Variant):
            raise ValueError(f"variant must be {choices(Variant)}, got {self.variant!r}")
        if self.fusion_norm_stats not in get_args(NormStats):
            raise ValueError(f"fusion_norm_stats must be {choices(NormStats)}, got {self.fusion_norm_stats!r}")
        if isinstance(self.fusion, dict):
            object.__setattr__(self, "fusion", FusionRule(**self.fusion))
        if not isinstance(self.fusion, FusionRule):
            raise TypeError(f"fusion must be an object with structure, detail and skip rules, got {self.fusion!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``fusion`` as a nested dict)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormFuseConfig:
        """Build a config from :meth:`to_dict` output; unknown keys raise a ValueError naming them."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object of config fields, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - {"model_type", "normfuse_version"})
        if unknown:
            raise ValueError(f"unknown NormFuseConfig fields: {unknown}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> str:
        return json.dumps({"model_type": "normfuse", **self.to_dict()}, indent=2, sort_keys=True)


class _ConvNormAct(nn.Sequential):
    """``act(norm(conv(x)))``: a 3x3 convolution without bias, a :class:`~normfuse.layers.Norm2d`, an activation."""

    def __init__(self, cin: int, cout: int, cfg: NormFuseConfig, act: nn.Module):
        super().__init__(same_conv(cin, cout, cfg.padding_mode, bias=False),
                         Norm2d(cout, cfg.norm, affine=True), act)

    def fused(self, dtype: torch.dtype = torch.float32) -> FoldedConv2d:
        """This layer folded for inference in ``dtype`` (eval mode, running statistics)."""
        conv, norm, act = self
        if not (isinstance(conv, nn.Conv2d) and isinstance(norm, Norm2d)):  # pragma: no cover - built in __init__
            raise TypeError("a _ConvNormAct holds a Conv2d, a Norm2d and an activation")
        return FoldedConv2d.fold(conv, norm, act, dtype)


class Encoder(nn.Module):
    """Three conv layers and two ResBlocks: ``(B, in_channels, H, W)`` -> :class:`Features`."""

    def __init__(self, cfg: NormFuseConfig):
        super().__init__()
        w = cfg.width
        self.conv_in = _ConvNormAct(cfg.in_channels, w, cfg, make_activation(cfg.activation))
        self.res1 = ResBlock(w, w, cfg.norm, cfg.padding_mode, cfg.activation)
        self.res2 = ResBlock(w, w, cfg.norm, cfg.padding_mode, cfg.activation)
        self.to_structure = _ConvNormAct(w, w, cfg, nn.Tanh())
        self.to_detail = _ConvNormAct(w, w, cfg, nn.Tanh())

    def forward(self, x: torch.Tensor) -> Features:
        r1 = self.res1(self.conv_in(x))
        r2 = self.res2(r1)
        return Features(self.to_structure(r2), self.to_detail(r2), (r1, r2))


class Decoder(nn.Module):
    """Two PEANResBlocks (or ResBlocks for ``rescat``) with skip concatenation and one output conv."""

    def __init__(self, cfg: NormFuseConfig):
        super().__init__()
        w = cfg.width
        self.variant = cfg.variant
        self.block1: PEANResBlock | ResBlock
        self.block2: PEANResBlock | ResBlock
        if cfg.variant == "normfuse":
            self.block1 = PEANResBlock(w, w, w, cfg.pean_hidden, cfg.norm, cfg.padding_mode, cfg.activation)
            self.block2 = PEANResBlock(2 * w, w, w, cfg.pean_hidden, cfg.norm, cfg.padding_mode, cfg.activation)
        else:
            self.block1 = ResBlock(2 * w, w, cfg.norm, cfg.padding_mode, cfg.activation)
            self.block2 = ResBlock(2 * w, w, cfg.norm, cfg.padding_mode, cfg.activation)
        self.conv_out = same_conv(2 * w, cfg.in_channels, cfg.padding_mode)

    def forward(self, feats: Features, norm_stats: NormStats = "running") -> torch.Tensor:
        r1, r2 = feats.skips
        if self.variant == "normfuse":
            p1 = self.block1(feats.structure, feats.detail, norm_stats)
            p2 = self.block2(torch.cat([p1, r2], 1), feats.detail, norm_stats)
        else:
            p1 = self.block1(torch.cat([feats.structure, feats.detail], 1), norm_stats)
            p2 = self.block2(torch.cat([p1, r2], 1), norm_stats)
        return torch.sigmoid(self.conv_out(torch.cat([p2, r1], 1)))


class NormFuseNet(nn.Module):
    """Encoder + decoder of NormFuse, on tensors.

    Shapes:
        images ``(B, in_channels, H, W)`` float in ``[0, 1]``; any ``H, W >= 2``
        (reflect padding needs at least 2 pixels); outputs likewise in ``[0, 1]``.
    """

    def __init__(self, config: NormFuseConfig | None = None):
        super().__init__()
        self.config = NormFuseConfig() if config is None else config
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    def encode(self, x: torch.Tensor) -> Features:
        """``(B, C, H, W)`` image -> :class:`Features`."""
        return self.encoder(x)

    def decode(self, feats: Features, norm_stats: NormStats = "running") -> torch.Tensor:
        """:class:`Features` -> ``(B, C, H, W)`` image in ``[0, 1]``.

        ``norm_stats`` chooses the statistics of the decoder's normalisations in
        eval mode (see :class:`normfuse.layers.Norm2d`).
        """
        return self.decoder(feats, norm_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` (autoencoder pass used in training)."""
        return self.decoder(self.encoder(x))

    def fuse(self, ir: torch.Tensor, vis: torch.Tensor, rule: FusionRule | str | None = None) -> torch.Tensor:
        """Encode both images, combine with ``rule`` (default ``config.fusion``; a string as in
        :meth:`FusionRule.parse`) and decode."""
        fused = fuse_features(self.encode(ir), self.encode(vis), self.config.fusion if rule is None else rule)
        return self.decode(fused, self.config.fusion_norm_stats)


#: The bfloat16 precision policy, shared by the bf16 fusion plan (:mod:`normfuse.inference`) and its
#: training-time simulation (:mod:`normfuse.train.precision`).  Every layer of :class:`NormFuseNet` runs
#: in bfloat16 except these (module names), which keep float32 weights and compute in float32.  The value
#: says what the layer reads: ``"image"``, the input pixels in float32 (rounding them to bfloat16, half a
#: grey level, is what moves the output most); ``"bfloat16"``, bfloat16 features, giving float32 output
#: (between 0.5 and 1, bfloat16's spacing is already one grey level).
BF16_FLOAT32_LAYERS: MappingProxyType[str, Literal["image", "bfloat16"]] = MappingProxyType(
    {"encoder.conv_in": "image", "decoder.conv_out": "bfloat16"}
)
