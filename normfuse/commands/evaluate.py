"""``normfuse evaluate``: fusion metrics of a folder, or a full evaluation against the letter.

Folder mode (any method's fused images)::

    normfuse evaluate --ir DIR --vis DIR --fused DIR --json metrics.json [--csv per_image.csv]

Data-set mode (fuse TNO and RoadScene test pairs with models and baselines, write
CSV/JSON/Markdown and the letter's figure)::

    normfuse evaluate --methods bundled normfuse-letter average maximum laplacian --out evaluation/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="compute fusion metrics", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ir", help="folder of infrared sources (folder mode)")
    p.add_argument("--vis", help="folder of visible sources (folder mode)")
    p.add_argument("--fused", help="folder of fused images, matched by file stem (folder mode)")
    p.add_argument("--json", help="write per-image and mean metrics as JSON")
    p.add_argument("--csv", help="write per-image metrics as CSV")
    p.add_argument("--metrics", nargs="+", help="metric names (default: the eleven standard ones, or all the "
                                                "convention's metrics)")
    p.add_argument("--convention", default="normfuse",
                   choices=["normfuse", "tang-matlab", "tang-2022", "cddfuse", "vifb"],
                   help="metric convention: normfuse's standard metrics (default) or a preset reproducing another "
                        "evaluation code (see docs/metrics.md)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="data-set mode: 'bundled', a baseline (average, maximum, laplacian), NAME=MODEL_FOLDER_OR_REPO "
                        "or NAME=fused:FOLDER")
    p.add_argument("--datasets", nargs="+", default=["tno", "roadscene", "llvip"], choices=["tno", "roadscene", "llvip"],
                   help="test sets (default: all three)")
    p.add_argument("--data", help="data-set mode: folder holding tno/, roadscene/ and llvip/ (default: $NORMFUSE_DATA)")
    p.add_argument("--out", default="evaluation", help="data-set mode output folder (default: evaluation)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import metrics

    folder_mode = any(x is not None for x in (args.ir, args.vis, args.fused))
    if folder_mode:
        if None in (args.ir, args.vis, args.fused):
            raise ValueError("folder mode needs all of --ir, --vis and --fused")
        per_image, mean = metrics.evaluate_folder(args.fused, args.ir, args.vis, args.metrics,
                                                  convention=args.convention)
        if args.json:
            metrics.write_json(args.json, {"mean": mean, "per_image": per_image})
        if args.csv:
            metrics.write_csv(args.csv, per_image)
        print(metrics.markdown_table({f"mean of {len(per_image)}": mean}, index_name="images"))
        return 0
    from ..evaluation import resolve_method, run_evaluation

    specs = args.methods or ["bundled", "normfuse-letter", "average", "maximum", "laplacian"]
    methods = dict(resolve_method(s, args.device, args.precision) for s in specs)
    means = run_evaluation(methods, tuple(args.datasets), args.out, args.data,
                           tuple(args.metrics) if args.metrics else None, convention=args.convention)
    if args.json:
        metrics.write_json(args.json, means)
    print((Path(args.out) / "metrics.md").read_text())
    print(json.dumps({"out": args.out}))
    return 0
