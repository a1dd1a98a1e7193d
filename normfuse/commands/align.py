"""``normfuse align``: register infrared onto visible images and save the alignment (a rig file).

Examples::

    normfuse align ir.png vis.jpg -o rig.json                  # one pair
    normfuse align ir/ vis/ -o rig.json                        # a rig: jointly from up to 5 pairs of the folders
    normfuse align ir.png vis.jpg -o rig.json --preview overlay.png   # and a picture to check it
    normfuse align ir.png vis.jpg -o rig.json --points points.csv     # from control points you marked
    normfuse fuse ir/ vis/ -o out/ --rig rig.json              # then fuse every pair of the rig

The file holds the model, the 3 x 3 matrix (visible pixel -> IR pixel), the
image sizes and the quality score; ``normfuse fuse --rig`` refuses pairs of
other sizes.  When the registration is unreliable (little agreement between
the images, or little overlap) nothing is written and the exit code is 1,
unless --force.

Exit code: 0 written, 1 unreliable (not written), 2 usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("align", help="register infrared onto visible images; write an alignment (rig) JSON file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ir", help="infrared file, folder or quoted glob")
    p.add_argument("vis", help="visible file, folder or quoted glob")
    p.add_argument("-o", "--output", required=True, help="the alignment JSON file to write (e.g. rig.json)")
    p.add_argument("--model", default=None,
                   choices=("translation", "similarity", "affine", "homography", "deformable"),
                   help="transform model (default: affine)")
    p.add_argument("--points", default=None,
                   help="CSV (ir_x,ir_y,vis_x,vis_y per line) or JSON of control points: fit the model to them "
                        "by least squares instead of registering automatically")
    p.add_argument("--pairs", type=int, default=5,
                   help="folders: register jointly on up to this many pairs, spread over the folder (default: 5)")
    p.add_argument("--scale-range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="IR pixels per visible pixel to search (default: from the image sizes)")
    p.add_argument("--preview", default=None,
                   help="write a checkerboard / edge overlay of the first pair, before and after (PNG or JPEG)")
    p.add_argument("--force", action="store_true", help="write the file even when the registration is unreliable")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def _pairs(ir: str, vis: str, count: int) -> list[tuple[Path, Path]]:
    from ..pairing import match_pairs

    pairs = match_pairs(ir, vis)
    if not pairs:
        raise ValueError(f"no IR/visible pairs found in {ir!r} and {vis!r}")
    if count < 1:
        raise ValueError(f"--pairs must be at least 1, got {count}")
    n = min(count, len(pairs))
    idx = sorted({round(i * (len(pairs) - 1) / max(n - 1, 1)) for i in range(n)})
    return [(pairs[i].ir, pairs[i].vis) for i in idx]


def _estimate(args: argparse.Namespace, pairs: list[tuple[Path, Path]]):
    import warnings

    from ..io import read_image
    from ..registration import AlignmentWarning, calibrate
    from ..registration.points import from_points, read_points

    model = args.model or "affine"
    if args.points is not None:
        ir_p, vis_p = read_points(args.points)
        ir_img, vis_img = read_image(pairs[0][0]), read_image(pairs[0][1])
        return from_points(ir_p, vis_p, model, ir_size=ir_img.shape[:2], vis_size=vis_img.shape[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlignmentWarning)  # reported below, with what happens next
        return calibrate(pairs, model, scale_range=args.scale_range, on_failure="ignore")


def _describe(a, n_pairs: int) -> str:
    import numpy as np

    rows = "\n".join("    " + "  ".join(f"{v:12.6g}" for v in row) for row in a.matrix)
    lines = [f"model {a.model}, IR {a.ir_size[0]}x{a.ir_size[1]} -> visible {a.vis_size[0]}x{a.vis_size[1]}, "
             f"overlap {100 * a.overlap:.0f} %"]
    if np.isfinite(a.score):
        lines.append(f"score {a.score:.3f} (1 perfect, about 0.5 unrelated images) from {n_pairs} pair(s)")
    if "residual_rms" in a.info:
        lines.append(f"{a.info['points']} control points, residuals (IR px): rms {a.info['residual_rms']:.2f}, "
                     f"max {a.info['residual_max']:.2f}")
    lines.append("matrix (visible pixel -> IR pixel):\n" + rows)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sys

    out = Path(args.output)
    if out.suffix.lower() != ".json":
        raise ValueError(f"the output {str(out)!r} must be a .json file")
    if out.exists() and not args.overwrite:
        raise ValueError(f"{str(out)!r} exists; pass --overwrite to replace it")
    if args.preview and Path(args.preview).suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--preview {args.preview!r} must end in .png or .jpg")
    pairs = _pairs(args.ir, args.vis, 1 if Path(args.ir).is_file() else args.pairs)
    a = _estimate(args, pairs)
    print(_describe(a, len(pairs)))
    if args.preview:
        from ..registration.preview import write_overlay

        print(f"wrote {write_overlay(args.preview, pairs[0][0], pairs[0][1], a)} (top: before, bottom: after)")
    if not a.reliable and not args.force:
        print(f"normfuse align: error: the registration is unreliable (score {a.score:.2f}, overlap "
              f"{100 * a.overlap:.0f} %); {out} not written. Check the preview, try --model, --scale-range or "
              "--points, or pass --force to write it anyway", file=sys.stderr)
        return 1
    a.save(out)
    print(f"wrote {out}")
    return 0
