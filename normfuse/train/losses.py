"""Training losses: the NormFuse letter's loss, exactly as the letter states it, and the fusion-stage loss.

``L = L_de + L_rec`` with

- ``L_de = tanh(||S_I - S_V||^2) - a1 * tanh(||D_I - D_V||^2)``
- ``L_rec = a2 f(I, I^) + a3 f(V, V^) + a4 ||grad V - grad V^||_1``
- ``f(X, X^) = ||X - X^||^2 + lambda (1 - SSIM(X, X^)) / 2``

``||.||^2`` is the mean squared error and ``||.||_1`` the mean absolute error
(per element), as in DIDFuse, the method NormFuse extends.  SSIM and the image
gradient (Sobel) come from kornia.

The fusion stage (:func:`fusion_loss`) trains the decoder on what it decodes at
test time, the fused features of a pair, without a ground truth: an intensity
term towards the brighter source, a gradient term towards the stronger source
gradient and SSIM to both sources, in the manner of the two-stage recipes of
decomposition methods (CDDFuse).
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F

from ..network import Features
from .config import FusionLossWeights, LossWeights

__all__ = [
    "LossWeights", "FusionLossWeights", "decomposition_loss", "reconstruction_error", "gradient_loss",
    "normfuse_loss", "fusion_loss", "intensity_target", "warm_target_shortfall",
]


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


def _gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    return kornia.filters.spatial_gradient(x.float(), mode="sobel").abs().sum(2)


def _base(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``sigma`` pixels (reflect borders); ``sigma <= 0``: ``x`` itself."""
    if sigma <= 0:
        return x
    k = 2 * round(3 * sigma) + 1
    return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")


def intensity_target(ir: torch.Tensor, vis: torch.Tensor, base_sigma: float = 0.0, ir_priority: float = 0.0,
                     detail_gain: float = 1.0, floor: float = 0.0, detail_balance: float = 0.0,
                     ir_salience: float = 0.0, salience_sigma: float = 2.0, detail_power: float = 0.0,
                     detail_sigma: float = 1.0, range_window: int = 0) -> torch.Tensor:
    """What the fused image's intensity is pulled towards (see :class:`~normfuse.train.config.FusionLossWeights`).

    ``base_sigma = 0``: ``max(I, V)``; else
    ``max(max(B_I, B_V) - p relu(B_V - B_I) + g D, f max(B_I, B_V))`` clipped to
    [0, 1], with ``B`` the Gaussian blur of ``base_sigma``, ``p`` the
    ``ir_priority``, ``D`` whichever of ``I - B_I``, ``V - B_V`` is larger in
    magnitude (each divided by ``s ** detail_balance``, ``s`` the standard
    deviation of that source's detail over the image), ``g`` the
    ``detail_gain`` and ``f`` the ``floor``.  With ``detail_power`` ``q > 0``
    ``D`` is a blend instead, ``w D_I + (1 - w) D_V`` with
    ``w = e_I^q / (e_I^q + e_V^q)``, ``e`` the local detail energy (``|D|``
    blurred with ``detail_sigma``, divided as above): a per-pixel switch between
    the sources' details puts edges of its own into the target, where the choice
    flips.  ``ir_salience`` ``k > 0`` adds
    ``k relu(G(I) - B_I)`` before the floor and the clipping (``G`` a blur of
    ``salience_sigma``): how much warmer the IR image is than its own
    surroundings, so warm targets stand out without darkening anything.
    ``range_window`` ``k > 0`` clips the result, last, to the range of both
    sources over ``k x k`` pixels: the target has no rim or dip that neither
    source has nearby (the salience and the detail can otherwise overshoot).

    Examples:
        >>> i, v = torch.full((1, 1, 32, 32), 0.6), torch.full((1, 1, 32, 32), 0.7)
        >>> i[..., 12:20, 12:20] = 0.8                     # a warm target, darker than max(I, V) around it
        >>> t = intensity_target(i, v, base_sigma=3.0)
        >>> bool(t[0, 0, 16, 16] > 0.75 > t[0, 0, 2, 2] - 0.01)
        True
    """
    if base_sigma <= 0:
        return torch.maximum(ir, vis)
    return _target_from_bases(ir, vis, _base(ir, base_sigma), _base(vis, base_sigma), ir_priority, detail_gain, floor,
                              detail_balance, ir_salience, salience_sigma, detail_power, detail_sigma, range_window)


def _target_from_bases(ir: torch.Tensor, vis: torch.Tensor, bi: torch.Tensor, bv: torch.Tensor, ir_priority: float,
                       detail_gain: float, floor: float, detail_balance: float, ir_salience: float = 0.0,
                       salience_sigma: float = 2.0, detail_power: float = 0.0,
                       detail_sigma: float = 1.0, range_window: int = 0) -> torch.Tensor:
    """:func:`intensity_target` (``base_sigma > 0``) from the sources' bases ``bi``, ``bv``."""
    di, dv = ir - bi, vis - bv
    brighter = torch.maximum(bi, bv)
    base = brighter - ir_priority * torch.relu(bv - bi)
    si = di.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3) ** detail_balance
    sv = dv.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3) ** detail_balance
    if detail_power > 0:
        ei = (_base(di.abs(), detail_sigma) / si).clamp_min(1e-6)
        ev = (_base(dv.abs(), detail_sigma) / sv).clamp_min(1e-6)
        w = torch.sigmoid(detail_power * (ei.log() - ev.log()))  # e_I^q / (e_I^q + e_V^q), without overflow
        detail = w * di + (1 - w) * dv
    else:
        detail = torch.where(di.abs() * sv >= dv.abs() * si, di, dv)
    target = base + detail_gain * detail
    if ir_salience > 0:
        target = target + ir_salience * torch.relu(_base(ir, salience_sigma) - bi)
    if floor > 0:
        target = torch.maximum(target, floor * brighter)
    if range_window > 0:
        target = _within_local_range(target, ir, vis, range_window)
    return target.clamp(0, 1)


def _within_local_range(target: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, window: int) -> torch.Tensor:
    """``target`` clipped, pixel by pixel, to the range of both sources over a ``window`` x ``window`` neighbourhood
    (the range the ``HALO`` measure allows): no rim brighter, and no dip darker, than any source pixel nearby."""
    pad = window // 2
    high = F.max_pool2d(torch.maximum(ir, vis), window, 1, pad)
    low = -F.max_pool2d(-torch.minimum(ir, vis), window, 1, pad)
    return torch.minimum(torch.maximum(target, low), high)


def warm_target_shortfall(ir: torch.Tensor, vis: torch.Tensor, fused: torch.Tensor,
                          hot_percent: float = 2.0) -> torch.Tensor:
    """How far the warm targets of each image fall short of standing out as in the average of the sources.

    ``mean(relu(c(A) - c(F)))`` over the batch, with ``c(X)`` the mean of ``X``
    over the hottest ``hot_percent`` % of the IR image's pixels minus its mean
    over the others and ``A = (I + V) / 2``: the training form of the ``IRshare``
    measure (:mod:`normfuse.metrics.robustness`), zero when the fused image keeps
    at least half the IR image's target contrast over the visible image's.
    All ``(B, 1, H, W)`` in [0, 1].

    Examples:
        >>> i = torch.zeros(1, 1, 20, 20); i[..., :2, :4] = 1.0      # a warm target (2 % of the pixels)
        >>> v = torch.full((1, 1, 20, 20), 0.5)
        >>> float(warm_target_shortfall(i, v, v)), float(warm_target_shortfall(i, v, torch.maximum(i, v)))
        (0.5, 0.0)
    """
    b = ir.shape[0]
    flat_ir = ir.reshape(b, -1)
    k = max(1, round(flat_ir.shape[1] * hot_percent / 100))
    level = flat_ir.topk(k, dim=1).values[:, -1:]
    hot = (flat_ir >= level).float()
    cold = 1.0 - hot

    def contrast(x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(b, -1)
        return (x * hot).sum(1) / hot.sum(1).clamp_min(1) - (x * cold).sum(1) / cold.sum(1).clamp_min(1)

    return torch.relu(contrast((ir + vis) / 2) - contrast(fused)).mean()


def fusion_loss(
    ir: torch.Tensor, vis: torch.Tensor, fused: torch.Tensor, w: FusionLossWeights | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """Unsupervised fusion objective of a fused image and its sources, all ``(B, 1, H, W)`` in [0, 1].

    ``intensity * |F - T|_1 + gradient * | |grad F| - g max(|grad I|, |grad V|) |_1
    + ssim * ((1 - SSIM(F, I)) + (1 - SSIM(F, V))) / 2
    + dark * mean(relu(f max(B_I, B_V) - F)) + contrast * |std(F) - std(T)|_1
    + highlight * mean(relu(V - F) [V >= highlight_level])
    + overshoot * mean(distance of F to the sources' range over range_window)
    + target_contrast * warm_target_shortfall(I, V, F)``
    (means over pixels, standard deviations per image; ``|grad|`` is the sum
    of the absolute Sobel derivatives, ``g`` the ``gradient_gain``, ``T`` the
    :func:`intensity_target`, ``B`` its bases and ``f`` the ``floor``).  Terms
    of weight 0 are not computed.

    Returns:
        the total and its parts (``int``, ``fgrad``, ``fssim``, ``fdark``,
        ``fcontrast``, ``fhighlight``, ``fovershoot``, ``ftarget``; those computed) as floats.

    Examples:
        >>> x = torch.rand(2, 1, 32, 32)
        >>> total, parts = fusion_loss(x, x * 0.5, x, FusionLossWeights(ssim=0.0, gradient_gain=1.0, base_sigma=0.0))
        >>> round(total.item(), 6), parts["int"]
        (0.0, 0.0)
    """
    w = FusionLossWeights() if w is None else w
    fused, ir, vis = fused.float(), ir.float(), vis.float()
    bi, bv = _base(ir, w.base_sigma), _base(vis, w.base_sigma)  # once, for the target and the dark term
    if w.base_sigma <= 0:
        t = torch.maximum(ir, vis)
    else:
        t = _target_from_bases(ir, vis, bi, bv, w.ir_priority, w.detail_gain, w.floor, w.detail_balance,
                               w.ir_salience, w.salience_sigma, w.detail_power, w.detail_sigma, w.range_window)
    intensity = F.l1_loss(fused, t)
    target = w.gradient_gain * torch.maximum(_gradient_magnitude(ir), _gradient_magnitude(vis))
    grad = F.l1_loss(_gradient_magnitude(fused), target)
    total = w.intensity * intensity + w.gradient * grad
    parts = {"int": intensity.item(), "fgrad": grad.item()}
    if w.dark:
        floor = w.floor * torch.maximum(bi, bv)
        dark = torch.relu(floor - fused).mean()
        total = total + w.dark * dark
        parts["fdark"] = dark.item()
    if w.contrast:
        contrast = F.l1_loss(fused.std(dim=(1, 2, 3)), t.std(dim=(1, 2, 3)))
        total = total + w.contrast * contrast
        parts["fcontrast"] = contrast.item()
    if w.highlight:
        bright = (vis >= w.highlight_level).float()
        highlight = (torch.relu(vis - fused) * bright).mean()
        total = total + w.highlight * highlight
        parts["fhighlight"] = highlight.item()
    if w.overshoot:
        if w.range_window <= 0:
            raise ValueError("the overshoot term needs range_window > 0 (the neighbourhood whose range it keeps)")
        overshoot = (fused - _within_local_range(fused, ir, vis, w.range_window)).abs().mean()
        total = total + w.overshoot * overshoot
        parts["fovershoot"] = overshoot.item()
    if w.target_contrast:
        share = warm_target_shortfall(ir, vis, fused)
        total = total + w.target_contrast * share
        parts["ftarget"] = share.item()
    if w.ssim:
        ssim = (kornia.losses.ssim_loss(fused, ir, w.ssim_window) + kornia.losses.ssim_loss(fused, vis, w.ssim_window))
        total = total + w.ssim * ssim
        parts["fssim"] = ssim.item()
    return total, parts
