"""The NormFuse training loss, exactly as the letter states it.

``L = L_de + L_rec`` with

- ``L_de = tanh(||S_I - S_V||^2) - a1 * tanh(||D_I - D_V||^2)``
- ``L_rec = a2 f(I, I^) + a3 f(V, V^) + a4 ||grad V - grad V^||_1``
- ``f(X, X^) = ||X - X^||^2 + lambda (1 - SSIM(X, X^)) / 2``

``||.||^2`` is the mean squared error and ``||.||_1`` the mean absolute error
(per element), as in DIDFuse, the method NormFuse extends.  SSIM and the image
gradient (Sobel) come from kornia.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

from ..network import Features

__all__ = ["LossWeights", "decomposition_loss", "reconstruction_error", "gradient_loss", "normfuse_loss"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (defaults: the letter's a1..a4 and lambda; SSIM window 11)."""

    a1: float = 0.5
    a2: float = 2.0
    a3: float = 3.0
    a4: float = 20.0
    lam: float = 5.0
    ssim_window: int = 11


def decomposition_loss(ir: Features, vis: Features, a1: float = 0.5) -> torch.Tensor:
    """``tanh(mse(S_I, S_V)) - a1 * tanh(mse(D_I, D_V))``: pull structures together, push details apart."""
    s = F.mse_loss(ir.structure.float(), vis.structure.float())
    d = F.mse_loss(ir.detail.float(), vis.detail.float())
    return torch.tanh(s) - a1 * torch.tanh(d)


def reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor, lam: float = 5.0, window: int = 11) -> torch.Tensor:
    """``f(X, X^) = mse(X, X^) + lam * (1 - SSIM(X, X^)) / 2`` for ``(B, C, H, W)`` images in [0, 1]."""
    x, x_hat = x.float(), x_hat.float()
    return F.mse_loss(x_hat, x) + lam * kornia.losses.ssim_loss(x_hat, x, window_size=window, max_val=1.0)


def gradient_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the Sobel gradients of ``x`` and ``x_hat``."""
    gx = kornia.filters.spatial_gradient(x.float(), mode="sobel")
    gy = kornia.filters.spatial_gradient(x_hat.float(), mode="sobel")
    return F.l1_loss(gy, gx)


def normfuse_loss(
    ir: torch.Tensor,
    vis: torch.Tensor,
    feats_ir: Features,
    feats_vis: Features,
    ir_hat: torch.Tensor,
    vis_hat: torch.Tensor,
    w: LossWeights | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (``de``, ``rec_ir``, ``rec_vis``, ``grad``, ``total``) as floats."""
    w = LossWeights() if w is None else w
    de = decomposition_loss(feats_ir, feats_vis, w.a1)
    rec_ir = reconstruction_error(ir, ir_hat, w.lam, w.ssim_window)
    rec_vis = reconstruction_error(vis, vis_hat, w.lam, w.ssim_window)
    grad = gradient_loss(vis, vis_hat)
    total = de + w.a2 * rec_ir + w.a3 * rec_vis + w.a4 * grad
    parts = {"de": de.item(), "rec_ir": rec_ir.item(), "rec_vis": rec_vis.item(), "grad": grad.item()}
    parts["total"] = total.item()
    return total, parts
