"""What a fused image must give up to keep the IR target share at 0.5 where a warm target meets a bright scene.

``IRshare`` compares the warm-target contrast ``c(X) = mean(X on T) - mean(X off T)``
(``T``: the hottest 2 % of IR pixels) of the fused image with that of the
sources: 0.5 is the average's.  For a pair where the model keeps less than
0.5, this script measures, per pair and without any model assumption:

- **bound**: the brightest the background (the pixels off ``T``) may be on
  average for a share of 0.5 even with every target pixel at 255, i.e.
  ``255 - c(average)``, against the visible image's and the fused image's
  background there: how far the visible scene would have to be darkened;
- **the curve**: the least change that raises the share, ``F_l = F - l *
  relu(F - A) * (1 - T)`` (the background pulled down towards the average
  ``A`` of the sources, only where the fused image is brighter than it, by a
  fraction ``l`` from 0 to 1), with, for each ``l``, the share, HIGHLIGHT
  (grey levels lost in bright visible areas over a colder IR image), and how
  much of the visible scene is darkened by more than 10 grey levels.

Prints a Markdown table per data set.

    python benchmarks/bench_irshare_tradeoff.py                       # the default model, TNO and RoadScene test
    python benchmarks/bench_irshare_tradeoff.py --model normfuse-faithful --datasets tno
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import data_root

STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model name or folder (default: the default model)")
    ap.add_argument("--datasets", nargs="+", default=["tno", "roadscene", "llvip"])
    args = ap.parse_args()

    from normfuse import NormFuser
    from normfuse.evaluation import dataset_pairs
    from normfuse.io import read_image
    from normfuse.metrics import to_gray8
    from normfuse.metrics.fidelity import highlight_loss
    from normfuse.metrics.robustness import HOT_PERCENT, _target_contrast, ir_target_share
    from normfuse.models import DEFAULT_MODEL

    fuser = NormFuser.from_pretrained(args.model, precision="fp32", backend="torch")
    print(f"model: {args.model or DEFAULT_MODEL}; the pairs whose IR target share is under 0.5")
    for ds in args.datasets:
        rows = []
        for stem, ip, vp in dataset_pairs(ds, data_root()):
            a = to_gray8(read_image(ip)).astype(np.float64)
            b = to_gray8(read_image(vp)).astype(np.float64)
            f = to_gray8(fuser.fuse(ip, vp)).astype(np.float64)
            share = ir_target_share(f, a, b)
            if not share < 0.5:
                continue
            hot = a >= np.percentile(a, 100.0 - HOT_PERCENT)
            avg = (a + b) / 2
            bound = 255.0 - _target_contrast(avg, hot)
            curve = []
            for lam in STEPS:
                g = np.clip(np.round(f - lam * np.maximum(f - avg, 0) * ~hot), 0, 255)
                darker = float(np.mean((b - g > 10) & ~hot))
                curve.append((lam, ir_target_share(g, a, b), highlight_loss(g, a, b), darker))
            rows.append((stem, share, bound, b[~hot].mean(), f[~hot].mean(), f[hot].mean(), curve))
        print(f"\n### {ds}: {len(rows)} pairs under 0.5\n")
        if not rows:
            continue
        head = "| pair | share | background bound for 0.5 | visible background | fused background | fused target |"
        head += "".join(f" l={lam:g}: share / HIGHLIGHT / darkened > 10 |" for lam in STEPS)
        print(head)
        print("|" + " --- |" * (6 + len(STEPS)))
        for stem, share, bound, vb, fb, ft, curve in rows:
            cells = "".join(f" {s:.3f} / {'-' if np.isnan(h) else f'{h:.1f}'} / {100 * d:.0f} % |"
                            for _, s, h, d in curve)
            print(f"| {stem} | {share:.3f} | {bound:.0f} | {vb:.0f} | {fb:.0f} | {ft:.0f} |{cells}")


if __name__ == "__main__":
    main()
