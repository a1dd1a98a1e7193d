"""Models or training runs side by side on the fidelity issue's targets; prints one Markdown table per test set.

For each test set (TNO-40, RoadScene-test-40, LLVIP-test-12) and each model it
fuses the pairs in float32 (``normfuse.evaluation.run_evaluation``, which also
writes every per-pair number under ``--out``), then prints the eight quality
metrics (EN, SD, SF, MG, MI, VIF, Qabf, SSIM), the fidelity measures (mean and
worst pair), the robustness ones (worst pair), and how many of the eight
metrics are above DIDFuse's: its released fused images for TNO and RoadScene
(``--didfuse``, scored here: all eight), its released weights on LLVIP (the
six numbers of ``normfuse.evaluation.LLVIP_REFERENCE``; Qabf and SSIM are not
known there, so at most 6 of 8 can be counted). A last column says which of the
targets of the fidelity issue the model meets on that set.

    python benchmarks/compare_models.py --models normfuse-robust normfuse-letter run1=runs/a/final
    python benchmarks/compare_models.py --models normfuse-faithful --datasets tno --every 4   # a quick look
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from _common import data_root

QUALITY = ("EN", "SD", "SF", "MG", "MI", "VIF", "Qabf", "SSIM")
COLUMNS = ("HIGHLIGHT", "HIGHLIGHT (max)", "HPAMP", "HPAMP (max)", "FLATAMP", "HALO", "HALO (max)", "CRUSH (max)",
           "IRshare (min)")
DIDFUSE = Path(__file__).resolve().parents[1].parent / "shared" / "calibration" / "didfuse"


def targets(row: dict[str, float], wins: int) -> list[str]:
    """The issue's targets this row misses (an empty list: all met)."""
    missed = []
    checks = {
        "HIGHLIGHT mean <= 10": row["HIGHLIGHT"] <= 10 or math.isnan(row["HIGHLIGHT"]),
        "HIGHLIGHT worst <= 30": row["HIGHLIGHT (max)"] <= 30 or math.isnan(row["HIGHLIGHT (max)"]),
        "HPAMP mean <= 1.15": row["HPAMP"] <= 1.15,
        "CRUSH <= 1 %": row["CRUSH (max)"] <= 0.01,
        "IRshare >= 0.5": row["IRshare (min)"] >= 0.5,
        ">= 5 of 8 above DIDFuse": wins >= 5,
    }
    for name, ok in checks.items():
        if not ok:
            missed.append(name)
    return missed


def _fmt(k: str, v: float) -> str:
    if math.isnan(v):
        return "-"
    if k.startswith("CRUSH"):
        return f"{100 * v:.2f} %"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True,
                    help="shipped names, folders or NAME=FOLDER (a run's final/ folder)")
    ap.add_argument("--datasets", nargs="+", default=["tno", "roadscene", "llvip"])
    ap.add_argument("--data", help="folder holding tno/, roadscene/, llvip/ (default: $NORMFUSE_DATA or ../shared/data)")
    ap.add_argument("--didfuse", default=str(DIDFUSE), help="DIDFuse's released images: <folder>/<set>/<stem>.png")
    ap.add_argument("--every", type=int, default=1, help="use every N-th pair (faster, for a first look)")
    ap.add_argument("--out", help="where fused images and per-pair numbers go (default: a temporary folder)")
    args = ap.parse_args()

    from normfuse import evaluation
    from normfuse.evaluation import resolve_method, run_evaluation

    methods = dict(resolve_method(m, "cpu", "fp32") for m in args.models)
    root = Path(args.data) if args.data else data_root()
    out = Path(args.out or tempfile.mkdtemp(prefix="compare_models_"))
    names = (*QUALITY, "CRUSH", "IRshare", *evaluation.FIDELITY)
    if args.every > 1:  # a subset: pairs listed by a filtered copy of dataset_pairs
        full = evaluation.dataset_pairs
        evaluation.dataset_pairs = lambda ds, r=None: full(ds, r)[:: args.every]  # type: ignore[assignment]
    for ds in args.datasets:
        didfuse = Path(args.didfuse) / ds
        ms = dict(methods)
        if didfuse.is_dir():
            ms["DIDFuse (released images, scored here)"] = didfuse
        means = run_evaluation(ms, (ds,), out / ds, root, names=names, progress=False)[ds]
        ref = (means.get("DIDFuse (released images, scored here)")
               or evaluation.LLVIP_REFERENCE[f"DIDFuse (released weights) {evaluation.EXTERNAL}"])
        n = len(evaluation.dataset_pairs(ds, root))
        print(f"\n### {ds} ({n} pairs)\n")
        print("| model | " + " | ".join(QUALITY + COLUMNS) + " | above DIDFuse | targets missed |")
        print("|" + "---|" * (len(QUALITY) + len(COLUMNS) + 3))
        for m, row in means.items():
            cells = [_fmt(k, row[k]) for k in QUALITY + COLUMNS]
            if m.startswith("DIDFuse"):
                print(f"| {m} | " + " | ".join(cells) + " | - | - |")
                continue
            wins = sum(1 for k in QUALITY if k in ref and row[k] > ref[k])
            missed = targets(row, wins)
            print(f"| {m} | " + " | ".join(cells) + f" | {wins} of {sum(k in ref for k in QUALITY)} | "
                  + (", ".join(missed) or "none") + " |")
        if not didfuse.is_dir():
            print("\nDIDFuse (released weights, six metrics only): "
                  + ", ".join(f"{k} {v:g}" for k, v in ref.items()))
    print(f"\nper-pair numbers and fused images: {out}")


if __name__ == "__main__":
    main()
