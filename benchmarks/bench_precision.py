"""Can a faster precision be the default?  bf16 against fp32 on the TNO set; prints Markdown tables.

The project's rule: a faster precision may be the default only if the fused
8-bit images stay within 1 grey level of fp32 (max abs difference over the TNO
set) and every metric's mean within 0.5 %.  This script fuses all TNO pairs with
``NormFuser.fuse`` in fp32 and in bf16 and reports both criteria.

    python benchmarks/bench_precision.py                 # data from $NORMFUSE_DATA or ../shared/data next to the checkout
    python benchmarks/bench_precision.py --model FOLDER  # another model (folder or hub id)
    python benchmarks/bench_precision.py --model normfuse-roadscene --every 20   # a 2-pair subset (tests/test_docs_tables.py)

A model that passes may set ``"bf16_tolerant": true`` in its ``config.json``,
which lets ``precision="auto"`` pick bf16 on CPUs with native bf16.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import data_root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="folder holding tno/ (default: $NORMFUSE_DATA or ../shared/data next to the checkout)")
    ap.add_argument("--dataset", default="tno", choices=["tno", "roadscene", "llvip"])
    ap.add_argument("--model", help="shipped model name, folder or hub repo id (default: the default model)")
    ap.add_argument("--every", type=int, default=1, help="use every N-th pair (a quick subset)")
    ap.add_argument("--drift-only", action="store_true", help="only the grey-level drift, not the metrics (faster)")
    args = ap.parse_args()

    from normfuse import NormFuser
    from normfuse.evaluation import dataset_pairs
    from normfuse.io import read_image
    from normfuse.metrics import compute
    from normfuse.models import DEFAULT_MODEL

    pairs = list(dataset_pairs(args.dataset, args.data or data_root()))[:: args.every]
    fusers = {p: NormFuser.from_pretrained(args.model, device="cpu", precision=p) for p in ("fp32", "bf16")}
    worst, over1, over3, names = 0, [], [], ["EN", "SD", "SF", "VIF", "MI", "MG", "Qabf", "SSIM"]
    scores: dict[str, list[dict[str, float]]] = {"fp32": [], "bf16": []}
    for _stem, ir_path, vis_path in pairs:
        ir, vis = read_image(ir_path), read_image(vis_path)
        out = {p: f.fuse(ir, vis) for p, f in fusers.items()}
        diff = np.abs(out["fp32"].astype(int) - out["bf16"].astype(int))
        worst = max(worst, int(diff.max()))
        over1.append(float((diff > 1).mean()))
        over3.append(float((diff > 3).mean()))
        if args.drift_only:
            continue
        for p in out:
            scores[p].append(compute(out[p], ir, vis, names=names))
    print(f"{args.dataset}: {len(pairs)} pairs, model {args.model or DEFAULT_MODEL}")
    print()
    print("| criterion | measured | rule | passes |")
    print("|---|---|---|---|")
    print(f"| max abs difference (grey levels) | {worst} | <= 1 | {'yes' if worst <= 1 else 'no'} |")
    print(f"| pixels differing by more than 1 level | {100 * np.mean(over1):.3f} % | - | - |")
    print(f"| pixels differing by more than 3 levels | {100 * np.mean(over3):.4f} % | - | - |")
    if args.drift_only:
        return
    rel = {}
    for n in names:
        a = np.mean([s[n] for s in scores["fp32"]])
        b = np.mean([s[n] for s in scores["bf16"]])
        rel[n] = (a, b, 100 * abs(b - a) / abs(a))
    worst_rel = max(r[2] for r in rel.values())
    print(f"| largest metric change | {worst_rel:.3f} % | <= 0.5 % | {'yes' if worst_rel <= 0.5 else 'no'} |")
    print()
    print("| metric | fp32 | bf16 | change |")
    print("|---|---|---|---|")
    for n, (a, b, r) in rel.items():
        print(f"| {n} | {a:.4f} | {b:.4f} | {r:.3f} % |")


if __name__ == "__main__":
    main()
