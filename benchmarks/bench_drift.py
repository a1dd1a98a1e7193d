"""Drift of every fast path against torch fp32, under the project's bound; prints a Markdown table.

The bound for offering a lower precision (or another runtime) as a default: the
fused 8-bit images stay within 1 grey level of the torch fp32 path on at least
99.9 % of pixels and within 3 everywhere, on TNO (40 pairs), RoadScene test
(40) and LLVIP test (12, 1280 x 1024, fused in tiles as ``fuse`` does).  Every
pair is fused with ``NormFuser.fuse`` (uint8 in, uint8 out, colour kept) by
each path; colour outputs are compared on all three channels.

    python benchmarks/bench_drift.py --model normfuse-robust
    python benchmarks/bench_drift.py --model normfuse-roadscene --paths openvino-bf16
    python benchmarks/bench_drift.py --limit 5          # 5 pairs per data set (a quick look)

A model for which every bf16 path passes may set ``"bf16_tolerant": true`` in its
``config.json``: ``precision="auto"`` then picks bf16 on CPUs with native bfloat16
(torch or OpenVINO, whichever backend runs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import data_root

PATHS = {  # name: (backend, precision)
    "torch-bf16": ("torch", "bf16"),
    "openvino-fp32": ("openvino", "fp32"),
    "openvino-bf16": ("openvino", "bf16"),
}
DATASETS = ("tno", "roadscene", "llvip")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model name, folder or hub repo id (default: the default model)")
    ap.add_argument("--data", help="folder holding tno/, roadscene/, llvip/ (default: $NORMFUSE_DATA)")
    ap.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--limit", type=int, default=None, help="pairs per data set (default: all)")
    args = ap.parse_args()

    from normfuse import NormFuser
    from normfuse.devices import cpu_supports_bf16
    from normfuse.evaluation import dataset_pairs
    from normfuse.io import read_image
    from normfuse.models import DEFAULT_MODEL

    ref = NormFuser.from_pretrained(args.model, device="cpu", precision="fp32")
    fusers = {p: NormFuser.from_pretrained(args.model, device="cpu", precision=PATHS[p][1], backend=PATHS[p][0])
              for p in args.paths}
    name = args.model or f"{DEFAULT_MODEL} (the default)"
    rows = []
    for ds in args.datasets:
        pairs = dataset_pairs(ds, args.data or data_root())[: args.limit]
        hist = {p: np.zeros(256, np.int64) for p in args.paths}
        t0 = time.time()
        for _stem, ir_path, vis_path in pairs:
            ir, vis = read_image(ir_path), read_image(vis_path)
            exact = ref.fuse(ir, vis).astype(np.int16)
            for p, f in fusers.items():
                d = np.abs(f.fuse(ir, vis).astype(np.int16) - exact)
                hist[p] += np.bincount(d.ravel(), minlength=256)
        for p in args.paths:
            h = hist[p]
            total, worst = int(h.sum()), int(np.nonzero(h)[0].max())
            within1 = h[:2].sum() / total
            ok = within1 >= 0.999 and worst <= 3
            rows.append((p, ds, len(pairs), worst, 100 * (1 - within1), int(h[2:].sum()), total,
                         float((h * np.arange(256)).sum() / total), ok))
        print(f"# {ds}: {len(pairs)} pairs in {time.time() - t0:.0f} s: "
              + ", ".join(f"{r[0]} max {r[3]}, {r[4]:.4f} % > 1" for r in rows if r[1] == ds), flush=True)
    print()
    print(f"model: {name}; CPU native bf16: {cpu_supports_bf16()}")
    print()
    print("| path | data set | pairs | max abs diff (levels) | pixels > 1 level | mean abs diff | within bound |")
    print("|---|---|---|---|---|---|---|")
    for p, ds, n, worst, over, n_over, total, mean, ok in rows:
        print(f"| {p} | {ds} | {n} | {worst} | {over:.4f} % ({n_over} of {total / 1e6:.1f} M) | {mean:.3f} | "
              f"{'yes' if ok else 'no'} |")
    print()
    for p in args.paths:
        ok = all(r[-1] for r in rows if r[0] == p)
        print(f"{p}: {'within the bound on every data set' if ok else 'OUTSIDE the bound'}")


if __name__ == "__main__":
    main()
