"""``normfuse explain IR VIS -o maps.png``: draw the feature maps and PEAN internals of one pair.

Needs matplotlib (``pip install 'normfuse[plot]'``); without it the command stops with exit code 2.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="draw feature maps (S, D, BN(h), gamma, beta) of a pair", description=__doc__)
    p.add_argument("ir", nargs="?", help="infrared image (default: the bundled sample pair)")
    p.add_argument("vis", nargs="?", help="visible image")
    p.add_argument("-o", "--output", default="feature_maps.png", help="output PNG (default: feature_maps.png)")
    p.add_argument("--model", default=None, help="model folder or hub repo id (default: bundled weights)")
    p.add_argument("--channel", type=int, default=None, help="feature channel to show (default: most varied)")
    p.add_argument("--device", default="auto")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ._common import check_model_arg, missing_plot_extra

    if (args.ir is None) != (args.vis is None):
        raise ValueError("give both IR and VIS, or neither to use the bundled sample pair")
    missing = missing_plot_extra()
    if missing:
        print(f"normfuse explain: error: {missing}", file=sys.stderr)
        return 2
    check_model_arg(args.model)

    from ..explain import feature_figure
    from ..fuser import NormFuser
    from ..samples import sample_pair_paths

    ir, vis = (args.ir, args.vis) if args.ir is not None else sample_pair_paths()
    fuser = NormFuser.from_pretrained(args.model, device=args.device, precision="fp32")
    print(f"wrote {feature_figure(fuser, ir, vis, args.output, args.channel)}")
    return 0
