"""How a model holds up when the test pairs are made darker or flatter; prints a Markdown table.

The test sets' scenes are what they are; users' cameras are not. This script
changes each test pair the way other cameras and scenes differ, then fuses it:

- ``dark visible``: the visible image ``255 (V / 255) ** 2.5`` (a night scene);
- ``flat thermal``: the IR image's contrast scaled by 0.4 about its mean
  (people in a mid-grey thermal background);
- ``both`` at once.

For each it reports the worst pair's crushed fraction (``CRUSH``), and the
worst and the median IR target share (``IRshare``) over the pairs whose warm
targets still stand out more in the IR image than in the visible one (by at
least 10 grey levels; elsewhere the share is not defined).

    python benchmarks/bench_robustness.py                              # the default model
    python benchmarks/bench_robustness.py --models normfuse-robust normfuse-letter --every 2
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import data_root

STRESSES = {
    "dark visible": (lambda ir: ir, lambda vis: 255.0 * (vis / 255.0) ** 2.5),
    "flat thermal": (lambda ir: ir.mean() + 0.4 * (ir - ir.mean()), lambda vis: vis),
    "both": (lambda ir: ir.mean() + 0.4 * (ir - ir.mean()), lambda vis: 255.0 * (vis / 255.0) ** 2.5),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="folder holding tno/, roadscene/, llvip/ (default: $NORMFUSE_DATA or ../shared/data)")
    ap.add_argument("--models", nargs="+", default=["normfuse-robust"], help="shipped names, folders or hub ids")
    ap.add_argument("--datasets", nargs="+", default=["tno", "roadscene", "llvip"])
    ap.add_argument("--every", type=int, default=1, help="use every N-th pair (faster)")
    args = ap.parse_args()

    from normfuse import NormFuser
    from normfuse.evaluation import dataset_pairs
    from normfuse.metrics import to_gray8
    from normfuse.metrics.robustness import crushed_fraction, ir_target_share

    fusers = {m: NormFuser.from_pretrained(m, device="cpu", precision="fp32") for m in args.models}
    print("| set | change | model | worst CRUSH | worst IRshare | median IRshare | pairs |")
    print("|---|---|---|---|---|---|---|")
    for ds in args.datasets:
        pairs = dataset_pairs(ds, args.data or data_root())[:: args.every]
        grey = [(to_gray8(ip).astype(np.float64), to_gray8(vp).astype(np.float64)) for _, ip, vp in pairs]
        for change, (to_ir, to_vis) in STRESSES.items():
            crush: dict[str, list[float]] = {m: [] for m in fusers}
            share: dict[str, list[float]] = {m: [] for m in fusers}
            for ir0, vis0 in grey:
                ir, vis = np.rint(to_ir(ir0)).clip(0, 255), np.rint(to_vis(vis0)).clip(0, 255)
                hot = ir >= np.percentile(ir, 98)
                standout = (ir[hot].mean() - ir[~hot].mean()) - (vis[hot].mean() - vis[~hot].mean())
                for m, fuser in fusers.items():
                    fused = fuser.fuse(ir.astype(np.uint8), vis.astype(np.uint8)).astype(np.float64)
                    crush[m].append(crushed_fraction(fused, ir, vis))
                    if standout >= 10:
                        share[m].append(ir_target_share(fused, ir, vis))
            for m in fusers:
                s = share[m]
                lo, med = (f"{min(s):.3f}", f"{np.median(s):.3f}") if s else ("-", "-")
                print(f"| {ds} | {change} | `{m}` | {100 * max(crush[m]):.2f} % | {lo} | {med} | {len(s)} |", flush=True)


if __name__ == "__main__":
    main()
