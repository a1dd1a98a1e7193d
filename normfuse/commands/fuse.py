"""``normfuse fuse IR VIS -o OUT``: fuse one pair of image files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("fuse", help="fuse an infrared and a visible image", description=__doc__)
    p.add_argument("ir", nargs="?", help="infrared image (default: the bundled TNO sample pair)")
    p.add_argument("vis", nargs="?", help="visible image")
    p.add_argument("-o", "--output", default="fused.png", help="output image file (default: fused.png)")
    p.add_argument("--model", default=None, help="model folder or hub repo id (default: bundled weights)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--resize", choices=["ir", "vis"], default=None, help="resize one input when sizes differ")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import imageio.v3 as iio

    from ..fuser import NormFuser
    from ..samples import sample_pair_paths

    if (args.ir is None) != (args.vis is None):
        raise ValueError("give both IR and VIS, or neither to use the bundled sample pair")
    ir, vis = (args.ir, args.vis) if args.ir is not None else sample_pair_paths()
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{str(out)!r} exists; pass --overwrite to replace it")
    fuser = NormFuser.from_pretrained(args.model, device=args.device, precision=args.precision)
    fused = fuser.fuse(ir, vis, resize=args.resize)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part{out.suffix}")
    iio.imwrite(tmp, fused)
    os.replace(tmp, out)
    print(f"wrote {out} ({fused.shape[1]}x{fused.shape[0]}, {fused.dtype})")
    return 0
