"""One training step's forward pass and loss, :class:`TrainStep` (the module DDP wraps).

A batch of IR and visible crops is encoded in one pass.  Stage 1 (the letter's
recipe) reconstructs both and scores them with
:func:`~normfuse.train.losses.normfuse_loss`.  When the step also *fuses*
(the fusion stage, bf16 consistency or distillation), the two encodings are
combined with the model's fusion rule and decoded, as at test time.

Examples:
    >>> import torch
    >>> from normfuse.network import NormFuseConfig, NormFuseNet
    >>> step = TrainStep(NormFuseNet(NormFuseConfig(width=4)), StepWeights())
    >>> loss, parts = step(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))
    >>> sorted(parts)
    ['de', 'grad', 'rec_ir', 'rec_vis']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..network import Features, NormFuseNet, fuse_features
from .losses import FusionLossWeights, LossWeights, fusion_loss, normfuse_loss
from .precision import BF16Path, bf16_gap_loss, simulated_bf16

__all__ = ["StepWeights", "TrainStep"]


@dataclass(frozen=True)
class StepWeights:
    """How much each loss counts in a step.

    Attributes:
        letter: the letter's loss weights.
        reconstruction: factor on the letter's loss (1 in stage 1; 0: not computed).
        fusion: weights of the fusion-stage loss, or ``None`` (stage 1: no fusion loss).
        bf16_consistency: weight of the bfloat16-versus-float32 gap of the fused image.
        bf16_error_scale: that simulation's rounding error in multiples of bfloat16's.
        bf16_path: the bf16 path that simulation rounds like (``"torch"``: the fusion plan; ``"openvino"``: the
            OpenVINO graph, every layer in bf16; see :func:`~normfuse.train.precision.simulated_bf16`).
        distill: weight of the distance to a teacher's fused image (given to ``forward``).
        distill_floor: the distance counts only where the teacher's fused image is at least this fraction of
            ``max(ir, vis)`` (``0``: everywhere), so a teacher that crushes dark scenes is not followed there.
    """

    letter: LossWeights = field(default_factory=LossWeights)
    reconstruction: float = 1.0
    fusion: FusionLossWeights | None = None
    bf16_consistency: float = 0.0
    bf16_error_scale: float = 1.0
    bf16_path: BF16Path = "torch"
    distill: float = 0.0
    distill_floor: float = 0.0

    @property
    def fuses(self) -> bool:
        return self.fusion is not None or self.bf16_consistency > 0 or self.distill > 0


def _halves(feats: Features, b: int) -> tuple[Features, Features]:
    return feats.map(lambda t: t[:b]), feats.map(lambda t: t[b:])


def fuse_batch(net: NormFuseNet, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Fused images of a batch of pairs with ``net``'s fusion rule, in training mode (``(B, 1, H, W)``)."""
    b = ir.shape[0]
    fi, fv = _halves(net.encode(torch.cat([ir, vis])), b)
    return net.decoder(fuse_features(fi, fv, net.config.fusion))


class TrainStep(nn.Module):
    """``(ir, vis[, teacher_fused]) -> (loss, parts)`` for ``(B, 1, H, W)`` crops in [0, 1].

    ``parts`` maps each unweighted term's name to its value (a float).
    ``teacher_fused`` is the teacher's fused image, needed when ``weights.distill > 0``.
    """

    def __init__(self, net: NormFuseNet, weights: StepWeights):
        super().__init__()
        self.net = net
        self.weights = weights

    def forward(self, ir: torch.Tensor, vis: torch.Tensor, teacher_fused: torch.Tensor | None = None):
        w = self.weights
        b = ir.shape[0]
        feats = self.net.encode(torch.cat([ir, vis]))
        fi, fv = _halves(feats, b)
        loss = torch.zeros((), device=ir.device)
        parts: dict[str, float] = {}
        if w.reconstruction:
            recon = self.net.decoder(feats)
            loss, parts = normfuse_loss(ir, vis, fi, fv, recon[:b], recon[b:], w.letter)
            loss = w.reconstruction * loss
            del parts["total"]
        if not w.fuses:
            return loss, parts
        fused = self.net.decoder(fuse_features(fi, fv, self.net.config.fusion))
        if w.fusion is not None:
            term, fparts = fusion_loss(ir, vis, fused, w.fusion)
            loss = loss + term
            parts.update(fparts)
        if w.bf16_consistency:
            with simulated_bf16(self.net, w.bf16_error_scale, w.bf16_path):
                gap = bf16_gap_loss(fused, fuse_batch(self.net, ir, vis))
            loss = loss + w.bf16_consistency * gap
            parts["bf16_gap"] = gap.item()
        if w.distill:
            if teacher_fused is None:
                raise ValueError("distill > 0 needs the teacher's fused image")
            gap = (fused.float() - teacher_fused.float()).abs()
            if w.distill_floor > 0:
                gap = gap * (teacher_fused.float() >= w.distill_floor * torch.maximum(ir, vis).float())
            gap = gap.mean()
            loss = loss + w.distill * gap
            parts["distill"] = gap.item()
        return loss, parts
