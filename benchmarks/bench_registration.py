"""Registration benchmark: known random warps of the aligned shared pairs, end-point error and time.

For every pair of the chosen sets (TNO, RoadScene test, LLVIP test), the IR
image is warped with a known random transform (rotation +-10 degrees,
translation up to 10 % of the size, zoom 0.8-1.25; ``elastic`` adds a smooth
displacement of up to about 3 px) and the uncovered area is filled with zeros.
Each method registers the warped IR image onto the visible image; the
end-point error (EPE, visible pixels, mean over the pixels where both images
have data) is measured against the true mapping and against the mapping the
same method finds on the unwarped pair (its floor: the pairs are aligned by
hand to a pixel or two).  Methods: ``none`` (identity), ``mi-affine`` (a plain
Mattes mutual-information affine, SimpleITK, multi-resolution; needs
``pip install SimpleITK``), and normfuse's ``affine`` and ``deformable``.

Usage::

    python benchmarks/bench_registration.py --per-set 12 --out /tmp/reg.json
    python benchmarks/bench_registration.py --resolution     # IR downscaled 0.4x and cropped
    python benchmarks/bench_registration.py --fusion         # fusing misaligned pairs with align="auto"
    python benchmarks/bench_registration.py --timing         # time per 640 x 480 pair

Timing: registration runs in one torch thread; the CPU time of the process
(``time.process_time``) is reported next to the wall time, because wall time
on a shared machine counts the other processes too.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from _common import data_root

from normfuse.io import read_image
from normfuse.registration import align
from normfuse.registration.synthetic import KnownWarp

SETS = ("tno", "roadscene", "llvip")


def _gray(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 2 else a[..., 0] if np.ptp(a.astype(int), axis=2).max() == 0 else a


def set_pairs(name: str, n: int) -> list[str]:
    """The first ``n`` pairs of a set, spread evenly over its sorted test list."""
    root = data_root() / name
    if name == "tno":
        names = sorted(p.name for p in (root / "ir").iterdir())
    else:
        names = sorted(json.loads((root / "split.json").read_text())["test"])
    idx = np.unique(np.linspace(0, len(names) - 1, min(n, len(names))).round().astype(int))
    return [names[i] for i in idx]


def mi_affine(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """A plain Mattes mutual-information affine registration (SimpleITK): ``(H, W, 2)`` visible -> IR coordinates."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # one thread, as normfuse's registration
    fixed = sitk.GetImageFromArray(_luma(vis).astype(np.float32))
    moving = sitk.GetImageFromArray(_luma(ir).astype(np.float32))
    init = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(2),
                                             sitk.CenteredTransformInitializerFilter.GEOMETRY)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.2, seed=0)
    reg.SetMetricMovingMask(sitk.GetImageFromArray((_luma(ir) > 0).astype(np.uint8)))
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=200)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    reg.SetInitialTransform(init, inPlace=False)
    tf = reg.Execute(fixed, moving)
    h, w = vis.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    # SimpleITK maps fixed (visible) points to moving (IR) points; affine, so three points give it all
    a = np.array([tf.TransformPoint(tuple(p)) for p in ([0.0, 0.0], [1.0, 0.0], [0.0, 1.0])])
    lin = np.stack([a[1] - a[0], a[2] - a[0]], 1)
    return (pts @ lin.T + a[0]).reshape(h, w, 2)


def _luma(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return a if a.ndim == 2 else a[..., :3] @ np.array([0.299, 0.587, 0.114])


def identity(shape) -> np.ndarray:
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs, ys], -1).astype(np.float64)


def timed(fn, *args, **kw):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - w0, time.process_time() - c0


def run_pair(ir, vis, warp, methods, elastic: bool) -> dict:
    irw = warp.apply(ir)
    res = {}
    for m in methods:
        if m == "none":
            coords, floor, wall, cpu = identity(vis.shape), identity(vis.shape), 0.0, 0.0
        elif m == "mi-affine":
            coords, wall, cpu = timed(mi_affine, irw, vis)
            floor = mi_affine(ir, vis)
        else:
            model = "deformable" if m == "deformable" else m
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a, wall, cpu = timed(align, irw, vis, model=model)
                floor = align(ir, vis, model=model).coordinates()
            coords = a.coordinates()
        err = warp.error_map(coords)[warp.true_valid()]
        res[m] = {"epe": float(err.mean()), "epe_floor": warp.epe(coords, floor),
                  "offset": float(np.linalg.norm(floor - identity(vis.shape), axis=-1).mean()),
                  "wall": wall, "cpu": cpu}
    return res


def summarise(rows: list[dict], title: str) -> str:
    lines = [f"\n{title}\n", "| set | method | pairs | EPE mean | EPE median | worst | vs floor mean | floor offset mean "
             "| s/pair wall | s/pair CPU |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in SETS:
        sub = [r for r in rows if r["set"] == s]
        if not sub:
            continue
        for m in dict.fromkeys(k for r in sub for k in r["methods"]):
            have = [r for r in sub if m in r["methods"]]
            e = np.array([r["methods"][m]["epe"] for r in have])
            f = np.array([r["methods"][m]["epe_floor"] for r in have])
            o = np.array([r["methods"][m]["offset"] for r in have])
            wall = np.mean([r["methods"][m]["wall"] for r in have])
            cpu = np.mean([r["methods"][m]["cpu"] for r in have])
            worst = have[int(np.argmax(e))]["pair"]
            lines.append(f"| {s} | {m} | {len(have)} | {e.mean():.2f} | {np.median(e):.2f} | {e.max():.2f} ({worst}) "
                         f"| {f.mean():.2f} | {o.mean():.2f} | {wall:.2f} | {cpu:.2f} |")
    return "\n".join(lines)


def load_pair(name: str, pair: str):
    root = data_root() / name
    return _gray(read_image(root / "ir" / pair)), read_image(root / "vis" / pair)


def main_epe(args) -> None:
    rows: list[dict] = []
    out = Path(args.out)
    if out.is_file():
        rows = json.loads(out.read_text())
    done = {(r["set"], r["pair"], r["elastic"]) for r in rows}
    cases = [c == "elastic" for c in args.cases]
    for elastic in cases:
        methods = ["none", "mi-affine", *args.models] + (["deformable"] if elastic else [])
        if args.no_mi:
            methods.remove("mi-affine")
        for s in args.sets:
            for k, pair in enumerate(set_pairs(s, args.per_set)):
                if (s, pair, elastic) in done:
                    continue
                ir, vis = load_pair(s, pair)
                if s == "llvip" and args.llvip_half:
                    from skimage.transform import rescale

                    ir = (rescale(ir, 0.5, anti_aliasing=True) * 255).round().astype(np.uint8)
                    vis = (rescale(vis, 0.5, anti_aliasing=True, channel_axis=-1 if vis.ndim == 3 else None)
                           * 255).round().astype(np.uint8)
                rng = np.random.default_rng(1000 * SETS.index(s) + k)
                warp = KnownWarp.random(rng, vis.shape[:2], elastic=3.0 if elastic else 0.0)
                res = run_pair(ir, vis, warp, methods, elastic)
                rows.append({"set": s, "pair": pair, "elastic": elastic, "methods": res})
                print(s, pair, "elastic" if elastic else "affine",
                      " ".join(f"{m}={v['epe']:.2f}" for m, v in res.items()), flush=True)
                out.write_text(json.dumps(rows, indent=1))
    for elastic in cases:
        print(summarise([r for r in rows if r["elastic"] == elastic],
                        "with elastic displacement" if elastic else "affine-only warps"))


def main_resolution(args) -> None:
    """IR downscaled 0.4x and cropped (to 80 % of its width and height), registered onto the full visible image."""
    print("| set | pair | EPE (visible px) | vs floor | score | s wall | s CPU |\n|---|---|---|---|---|---|---|")
    for s in args.sets:
        for k, pair in enumerate(set_pairs(s, args.per_set)):
            ir, vis = load_pair(s, pair)
            h, w = vis.shape[:2]
            rng = np.random.default_rng(77 + k)
            warp = KnownWarp.random(rng, (h, w), rotation=3, translation=0.05, scale=(0.95, 1.05), elastic=0.0,
                                    ir_scale=0.4, ir_size=(round(0.8 * 0.4 * h), round(0.8 * 0.4 * w)))
            irw = warp.apply(ir)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a, wall, cpu = timed(align, irw, vis, model="affine")
                floor = align(ir, vis, model="affine").coordinates()  # the full-size unwarped pair
            print(f"| {s} | {pair} | {warp.epe(a.coordinates()):.2f} | {warp.epe(a.coordinates(), floor):.2f} "
                  f"| {a.score:.3f} | {wall:.2f} | {cpu:.2f} |", flush=True)


def main_fusion(args) -> None:
    """Fusion metrics of a warped pair fused with align='auto', of the aligned pair, and of the warped pair as is."""
    from normfuse import NormFuser
    from normfuse.metrics import compute

    fuser = NormFuser.from_pretrained(device="cpu", precision="fp32")
    names = ("EN", "SD", "MI", "Qabf", "VIF")
    print("| set | pair | case | " + " | ".join(names) + " |\n|---|---|---|" + "---|" * len(names))
    for s in args.sets:
        for k, pair in enumerate(set_pairs(s, args.per_set)):
            ir, vis = load_pair(s, pair)
            warp = KnownWarp.random(np.random.default_rng(5 + k), vis.shape[:2], rotation=4, translation=0.04,
                                    scale=(0.95, 1.05), elastic=0.0)
            irw = warp.apply(ir)
            cases = {"aligned": fuser.fuse(ir, vis), "misaligned, align=auto": fuser.fuse(irw, vis, alignment="auto"),
                     "misaligned, no registration": fuser.fuse(irw, vis)}
            for case, fused in cases.items():
                m = compute(fused, ir, vis, names=list(names))
                print(f"| {s} | {pair} | {case} | " + " | ".join(f"{m[n]:.3f}" for n in names) + " |", flush=True)


def main_timing(args) -> None:
    """Time per 640 x 480 pair (the bundled TNO pair resized, warped), methods interleaved, median of rounds."""
    from _common import sample_pair

    ir, vis = sample_pair(480, 640)
    irw = KnownWarp.random(np.random.default_rng(0), (480, 640), elastic=3.0).apply(ir)
    runs: dict[str, list[tuple[float, float]]] = {}
    jobs = {"affine": lambda: align(irw, vis, model="affine"), "homography": lambda: align(irw, vis, model="homography"),
            "deformable": lambda: align(irw, vis, model="deformable"), "mi-affine": lambda: mi_affine(irw, vis)}
    if args.no_mi:
        del jobs["mi-affine"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.rounds):
            for name, job in jobs.items():
                _, wall, cpu = timed(job)
                runs.setdefault(name, []).append((wall, cpu))
    print("| method | s wall (median) | s CPU (median) | rounds |\n|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {np.median([w for w, _ in r]):.2f} | {np.median([c for _, c in r]):.2f} | {len(r)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    p.add_argument("--per-set", type=int, default=12, help="pairs per set, spread over its test list (default 12)")
    p.add_argument("--out", default="bench_registration.json", help="results, resumed when it exists")
    p.add_argument("--cases", nargs="+", default=["affine", "elastic"], choices=["affine", "elastic"],
                   help="warps: affine only, and/or with the elastic displacement (default: both)")
    p.add_argument("--no-mi", action="store_true", help="leave out the SimpleITK mutual-information baseline")
    p.add_argument("--models", nargs="+", default=["affine"], choices=["translation", "similarity", "affine", "homography"],
                   help="global models of normfuse to measure (default: affine; the elastic case adds deformable)")
    p.add_argument("--llvip-half", action="store_true", help="register LLVIP at 640 x 512 instead of 1280 x 1024")
    p.add_argument("--resolution", action="store_true", help="the different-resolution case instead")
    p.add_argument("--fusion", action="store_true", help="the fusion case instead")
    p.add_argument("--timing", action="store_true", help="time per 640 x 480 pair instead")
    p.add_argument("--rounds", type=int, default=3, help="--timing rounds (default 3)")
    args = p.parse_args()
    if args.resolution:
        main_resolution(args)
    elif args.fusion:
        main_fusion(args)
    elif args.timing:
        main_timing(args)
    else:
        main_epe(args)


if __name__ == "__main__":
    main()
