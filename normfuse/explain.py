"""Feature-map figures like the NormFuse letter's Figs. 3-4.

One PNG with, for a pair: the inputs and the fused image; one channel of
S_I, S_V, D_I, D_V; and, inside the first PEAN layer of the decoder while it
decodes the fused features, the normalised activation BN(h), the per-pixel
gamma and beta, and gamma * BN(h).

Examples:
    >>> from normfuse import NormFuser
    >>> from normfuse.samples import sample_pair_paths
    >>> maps = pean_maps(NormFuser.from_pretrained(device="cpu"), *sample_pair_paths())
    >>> sorted(maps)[:4], maps["gamma"].shape
    (['BN(h)', 'D_I', 'D_V', 'IR'], (450, 620))
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .fuser import NormFuser
from .inputs import ImageInput, match_sizes, prepare
from .layers import PEANResBlock
from .network import fuse_features

__all__ = ["pean_maps", "feature_figure"]


def pean_maps(fuser: NormFuser, ir: ImageInput, vis: ImageInput, channel: int | None = None) -> dict[str, np.ndarray]:
    """Return named ``(H, W)`` float maps: inputs, fused, S/D of both sources and the PEAN internals.

    ``channel`` selects the feature channel shown (default: the channel of S_F
    with the largest spatial variance, the most informative one).
    Requires a ``variant="normfuse"`` model.  The maps come from the
    layer-by-layer network ``fuser.net`` in float32 (the folded fast path has
    no PEAN layer to look into), so ``"fused"`` is the reference of
    :meth:`NormFuser.fuse <normfuse.fuser.NormFuser.fuse>`.
    """
    if fuser.config.variant != "normfuse":
        raise ValueError("pean_maps needs a NormFuse model with PEAN layers (variant='normfuse')")
    p_ir, p_vis = prepare(ir, "ir"), prepare(vis, "vis")
    match_sizes(p_ir, p_vis)
    net, cfg = fuser.net, fuser.config
    block = net.decoder.block1
    if not isinstance(block, PEANResBlock):  # pragma: no cover - variant "normfuse" builds PEAN blocks
        raise ValueError("pean_maps needs a decoder with PEAN blocks")
    pean = block.pean1
    seen: dict[str, torch.Tensor] = {}

    def hook(module, args, output):
        h, cond = args[0], args[1]
        norm_stats = args[2] if len(args) > 2 else "running"
        gamma, beta = module.modulation(cond, (h.shape[-2], h.shape[-1]))
        seen["BN(h)"] = module.norm(h, norm_stats).float()
        seen["gamma"], seen["beta"] = gamma.float(), beta.float()
        seen["gamma*BN(h)"] = (gamma * module.norm(h, norm_stats)).float()

    handle = pean.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            f_ir, f_vis = (net.encode(p.luma.to(fuser.device)) for p in (p_ir, p_vis))
            fused_feats = fuse_features(f_ir, f_vis, cfg.fusion)
            fused = net.decode(fused_feats, cfg.fusion_norm_stats).clamp(0, 1)
    finally:
        handle.remove()
    if channel is None:
        channel = int(fused_feats.structure[0].flatten(1).var(1).argmax())
    pick = lambda t: t[0, channel].detach().cpu().numpy()  # noqa: E731
    maps = {
        "IR": p_ir.luma[0, 0].numpy(),
        "VIS": p_vis.luma[0, 0].numpy(),
        "fused": fused[0, 0].cpu().numpy(),
        "S_I": pick(f_ir.structure),
        "S_V": pick(f_vis.structure),
        "D_I": pick(f_ir.detail),
        "D_V": pick(f_vis.detail),
    }
    maps.update({k: pick(v) for k, v in seen.items()})
    return maps


def feature_figure(
    fuser: NormFuser, ir: ImageInput, vis: ImageInput, path: str | os.PathLike, channel: int | None = None
) -> Path:
    """Draw :func:`pean_maps` as one PNG (3 rows x 4 panels) at ``path``; needs matplotlib (``[plot]`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover
        raise ImportError("feature_figure needs matplotlib: pip install 'normfuse[plot]'") from exc
    maps = pean_maps(fuser, ir, vis, channel)
    layout: list[list[str | None]] = [["IR", "VIS", "fused", None], ["S_I", "S_V", "D_I", "D_V"], ["BN(h)", "gamma", "beta", "gamma*BN(h)"]]
    h, w = maps["IR"].shape
    fig, axes = plt.subplots(3, 4, figsize=(16, 12 * h / w + 1))
    for r, row in enumerate(layout):
        for c, name in enumerate(row):
            ax = axes[r][c]
            ax.axis("off")
            if name is None:
                continue
            img = maps[name]
            gray = name in ("IR", "VIS", "fused")
            ax.imshow(img, cmap="gray" if gray else "viridis", vmin=0 if gray else None, vmax=1 if gray else None)
            ax.set_title(name)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
