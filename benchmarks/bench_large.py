"""Large images: tiled fusion of an 8000 x 8000 pair with bounded memory, and tiled vs whole-image agreement.

Prints a table: size, tile size, seconds, peak resident memory (each run in its
own subprocess), and the maximum absolute difference between tiled and
whole-image fusion on real TNO pairs.

    python benchmarks/bench_large.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from _common import data_root, sample_pair


def run_one(size: int, precision: str, tile: int) -> dict:
    """Fuse one ``size`` x ``size`` pair; ``tile=0`` fuses the whole image at once."""
    from normfuse import NormFuser

    ir, vis = sample_pair(size, size)
    if tile:
        fuser = NormFuser.from_pretrained(device="cpu", precision=precision, tile_size=tile)
    else:
        fuser = NormFuser.from_pretrained(device="cpu", precision=precision, max_pixels=10**12)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    out = fuser.fuse(ir, vis)
    secs = time.perf_counter() - t
    assert out.shape == (size, size)
    return {"size": size, "precision": precision, "tile": tile, "seconds": secs, "rss_before_mb": base,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def tiled_vs_whole() -> list[dict]:
    import numpy as np

    from normfuse import NormFuser

    rows = []
    root = data_root() / "tno"
    names = sorted(p.name for p in (root / "ir").iterdir())[:10]
    for precision in ("fp32", "bf16"):
        whole = NormFuser.from_pretrained(device="cpu", precision=precision, max_pixels=10**9)
        tiled = NormFuser.from_pretrained(device="cpu", precision=precision, max_pixels=1, tile_size=128)
        worst = 0
        for n in names:
            a = whole.fuse(root / "ir" / n, root / "vis" / n).astype(int)
            b = tiled.fuse(root / "ir" / n, root / "vis" / n).astype(int)
            worst = max(worst, int(np.abs(a - b).max()))
        rows.append({"what": f"{len(names)} TNO pairs, 128-px tiles", "precision": precision,
                     "max_abs_diff_gray_levels": worst})
    # a large real image: the sample TNO pair upsampled to 2048 x 2048, default 512-px tiles vs whole
    ir, vis = sample_pair(2048, 2048)
    whole = NormFuser.from_pretrained(device="cpu", precision="fp32", max_pixels=10**12).fuse(ir, vis).astype(int)
    tiled = NormFuser.from_pretrained(device="cpu", precision="fp32").fuse(ir, vis).astype(int)
    rows.append({"what": "TNO pair 17 at 2048x2048, default 512-px tiles", "precision": "fp32",
                 "max_abs_diff_gray_levels": int(np.abs(whole - tiled).max())})
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(run_one(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))
        return
    print("| size | precision | tile | seconds | peak RSS MB |")
    print("|---|---|---|---|---|")
    runs = [(2048, "auto", 0), (2048, "auto", 512), (4096, "auto", 0), (4096, "auto", 512), (8000, "auto", 512),
            (8000, "bf16", 512)]
    for size, precision, tile in runs:
        res = subprocess.run([sys.executable, __file__, "--one", str(size), precision, str(tile)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"| {size} | {precision} | {tile} | failed: {res.stderr.strip().splitlines()[-1]} | |")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {size}x{size} | {precision} | {tile or 'whole image'} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |",
              flush=True)
    print()
    print("| images | precision | max abs diff tiled vs whole, grey levels |")
    print("|---|---|---|")
    for r in tiled_vs_whole():
        print(f"| {r['what']} | {r['precision']} | {r['max_abs_diff_gray_levels']} |")


if __name__ == "__main__":
    main()
