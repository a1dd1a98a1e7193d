"""``normfuse fuse``: fuse one pair of images, two folders, two globs or two videos.

Examples::

    normfuse fuse -o fused.png                         # the bundled sample pair
    normfuse fuse ir.png vis.jpg -o fused.png          # one pair
    normfuse fuse ir/ vis/ -o out/                     # folders: ir/0001.png + vis/0001.jpg -> out/0001.png
    normfuse fuse "ir/*.png" "vis/*.jpg" -o out/       # globs (quote them), matched by file stem
    normfuse fuse ir/ vis/ -o out/ --format tif --bit-depth 16
    normfuse fuse ir.mp4 vis.mp4 -o fused.mp4          # video, frame by frame (pip install 'normfuse[video]')

Existing outputs are skipped unless --overwrite. Outputs are written to a hidden
temporary file and renamed into place, so an interrupted run leaves no partial
image: run the same command again to finish. Unreadable inputs and files
without a partner are reported by name and the run goes on.

Exit code: 0 when every pair was fused or skipped, 1 when any pair failed or a
file had no partner, 2 on a usage error (nothing is written), 130 when interrupted.

Many processes, one or several machines: the same command under torchrun, e.g.::

    torchrun --nproc_per_node 4 -m normfuse fuse ir/ vis/ -o out/

Each process fuses every N-th pair (disjoint shares), on GPU LOCAL_RANK when
--device auto finds CUDA; the last line counts all processes.
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..pairing import Matching
    from ..ranks import Ranks
    from ..runner import Summary

FORMATS = ("png", "jpg", "tif", "tiff", "bmp")


def add_parser(sub) -> None:
    p = sub.add_parser("fuse", help="fuse infrared and visible images (a pair, folders, globs or videos)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ir", nargs="?",
                   help="infrared file, folder, quoted glob or video (default: the bundled sample pair)")
    p.add_argument("vis", nargs="?", help="visible file, folder, quoted glob or video")
    p.add_argument("-o", "--output", default=None,
                   help="one pair: output file (default: fused.png); folders and globs: output folder (required); "
                        "videos: output video")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="image format of outputs in a folder (default: png); one pair: taken from -o")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8,
                   help="16: write 16-bit PNG/TIFF when an input of the pair is 16-bit (default: 8)")
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, help="model folder or Hugging Face repo id (default: the bundled weights)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="fp32 (exact), bf16 (faster only on GPUs and CPUs with native bfloat16, AVX512-BF16 or AMX; "
                        "emulated and several times slower elsewhere, with a warning) or auto (default: bf16 where it "
                        "is native, for models marked bf16_tolerant as the bundled one is; else fp32)")
    g.add_argument("--backend", default="torch", choices=("torch", "openvino", "auto"),
                   help="what runs the network: torch (default), openvino (CPU; pip install 'normfuse[openvino]') "
                        "or auto (openvino where installed, else torch); see docs/performance.md")
    g.add_argument("--resize", choices=("ir", "vis"), default=None,
                   help="when sizes differ, resize the IR image to the visible size (ir) or the other way (vis); "
                        "default: such pairs fail")
    g.add_argument("--rig", default=None,
                   help="register every pair with this alignment file (from normfuse align); pairs of other sizes fail")
    g.add_argument("--align", choices=("auto",), default=None,
                   help="auto: register each pair on its own before fusing (see docs/registration.md)")
    g.add_argument("--thermal-range", choices=("auto", "dtype", "minmax", "percentile"), default="auto",
                   help="how IR values map to [0, 1]: auto (default) stretches 16-bit IR between its 1st and 99th "
                        "percentiles and divides 8-bit IR by 255; dtype divides by the dtype's maximum; minmax and "
                        "percentile stretch every image")
    g.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for the model (default: torch's choice; 1 is often best on a busy machine)")
    g.add_argument("--tile-size", type=int, default=None,
                   help="tile side for images above --max-pixels (default: 512)")
    g.add_argument("--max-pixels", type=int, default=None,
                   help="fuse images with more pixels than this in tiles (default: 1024*1024)")
    r = p.add_argument_group("run")
    r.add_argument("--workers", type=int, default=2,
                   help="threads reading and writing images; the model runs in the main thread (default: 2; 0: none)")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    r.add_argument("--dry-run", action="store_true", help="list what would be done; read and write nothing")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _say(msg: str) -> None:
    """Print one line to stdout in one write, flushed: under torchrun the processes' lines never mix.

    (``print`` writes the text and the newline separately, two system calls when
    Python's output is unbuffered, e.g. ``PYTHONUNBUFFERED=1``.)
    """
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def _err(msg: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(msg + "\n", file=sys.stderr, end="")  # one write; does not break a running progress bar


def _report(msg: str) -> None:
    from ..inputs import SizeMismatchError

    if msg.startswith(("failed:", "unmatched:")):
        _err(SizeMismatchError.in_cli_words(msg))
    else:
        _say(msg)


def _load(args: argparse.Namespace, ranks):
    import torch

    from ..fuser import NormFuser
    from ._common import check_model_arg

    check_model_arg(args.model)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    device = args.device
    if ranks.many and device == "auto" and torch.cuda.is_available():  # one GPU per process under torchrun
        device = f"cuda:{ranks.local_rank % torch.cuda.device_count()}"
    extra = {}
    if args.tile_size is not None:
        extra["tile_size"] = args.tile_size
    if args.max_pixels is not None:
        extra["max_pixels"] = args.max_pixels
    try:
        return NormFuser.from_pretrained(args.model, device=device, precision=args.precision, backend=args.backend,
                                         **extra)
    except ImportError as exc:  # --backend openvino without the extra: a usage error naming what to install
        raise ValueError(str(exc)) from exc


def _single_output(args: argparse.Namespace, ir: Path) -> tuple[Path, str]:
    """Output file and format of one pair."""
    out = Path(args.output or "fused.png")
    if out.is_dir() or (args.output or "").endswith(("/", os.sep)):
        return out / f"{ir.stem}.{args.format or 'png'}", args.format or "png"
    from ..pairing import OUTPUT_FORMATS

    fmt = out.suffix.lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"cannot write {str(out)!r}: the output name must end in .png, .jpg, .tif, .tiff or .bmp")
    if args.format and OUTPUT_FORMATS[args.format] != OUTPUT_FORMATS[fmt]:
        raise ValueError(f"--format {args.format} does not match the output name {str(out)!r}")
    return out, fmt


def _video(args: argparse.Namespace, ir: str, vis: str) -> int:
    from ..ranks import Ranks
    from ..video import VideoSupportMissing, check_video_support, fuse_video

    try:
        check_video_support()
    except VideoSupportMissing as exc:
        print(f"normfuse fuse: error: {exc}", file=sys.stderr)
        return 2
    if not args.output:
        raise ValueError("videos need -o OUTPUT.mp4")
    if args.bit_depth == 16:
        raise ValueError("videos are written with 8 bits; drop --bit-depth 16")
    out = Path(args.output)
    if out.resolve() in (Path(ir).resolve(), Path(vis).resolve()):
        raise ValueError(f"the output {str(out)!r} is an input file; refusing to overwrite it")
    if args.dry_run:
        state = "skip (exists)" if out.exists() and not args.overwrite else "fuse video"
        print(f"{state}: {ir} + {vis} -> {out}")
        return 0
    if out.exists() and not args.overwrite:  # checked again by fuse_video; here to skip loading the model
        n = None
    else:
        from ..inputs import SizeMismatchError
        from ..stream import StreamStats

        stats = StreamStats()
        try:
            n = fuse_video(_load(args, Ranks()), ir, vis, out, resize=args.resize, thermal_range=args.thermal_range,
                           overwrite=args.overwrite, progress=not args.quiet, stats=stats)
        except SizeMismatchError as exc:
            raise ValueError(SizeMismatchError.in_cli_words(str(exc))) from None
    if n is None:
        print(f"skipped {out} (exists; pass --overwrite to replace it)")
        print("fused 0, skipped 1, failed 0")
    else:
        print(f"wrote {out} ({n} frames, {stats.fps:.1f} frames per second end to end)")
        print("fused 1, skipped 0, failed 0")
    return 0


def _pairs_and_output(args: argparse.Namespace, ir: str, vis: str) -> tuple[Matching, Path | None, str]:
    """The matched pairs, the output folder (``None`` for one pair, whose output is set) and the format."""
    from ..pairing import Pair, match_pairs

    pairs = match_pairs(ir, vis)
    if Path(ir).is_file():
        out, fmt = _single_output(args, Path(ir))
        pairs[0] = Pair(pairs[0].name, pairs[0].ir, pairs[0].vis, out)
        out_dir = None
    else:
        if not args.output:
            raise ValueError("folders and globs need an output folder: -o OUT_DIR")
        out_dir, fmt = Path(args.output), args.format or "png"
        if out_dir.is_file():
            raise ValueError(f"the output {str(out_dir)!r} is a file; folders and globs need an output folder")
    return pairs, out_dir, fmt


def _report_summary(args: argparse.Namespace, summary: Summary, ranks: Ranks, single: Matching | None,
                    listing: int = 0) -> int:
    """Print what was done (under torchrun: each process its line, the first the total); return the exit code.

    ``listing`` is a checksum of all the pairs this process found: under torchrun
    the first process checks that every process found the same list.
    """
    from ..runner import counts_line

    if single and not args.dry_run:
        pair = single[0]
        if summary.fused:
            _say(f"wrote {pair.output}")
        elif summary.skipped:
            _say(f"skipped {pair.output} (exists; pass --overwrite to replace it)")
    if len(summary.failed) > 1:
        names = [name for name, _ in summary.failed]
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        _err(f"failed or unmatched: {shown}")
    counts = [len(summary.fused), len(summary.skipped), len(summary.failed)]
    seconds = summary.seconds
    if ranks.many:  # each process says what it did; the first one prints the total of all
        _say(f"rank {ranks.rank} of {ranks.world}: {summary.line()}")
        counts = [int(c) for c in ranks.all_reduce(counts)]
        seconds = ranks.all_reduce([seconds], op="max")[0]
        if not ranks.agree(listing):
            _err("normfuse fuse: error: the processes found different lists of pairs (were files added or removed "
                 "while they started?), so some pairs may be missing: run the same command again to finish")
            counts[2] += 1
        if ranks.rank > 0:
            return 0 if counts[2] == 0 else 1
    line = counts_line(counts[0], counts[1], counts[2], dry_run=summary.dry_run)
    if not summary.dry_run and seconds > 0 and counts[0]:
        line += f" in {seconds:.1f} s ({counts[0] / seconds:.2f} pairs/s)"
    if ranks.many:
        line += f" by {ranks.world} processes"
    _say(line)
    return 0 if counts[2] == 0 else 1


def _alignment(args: argparse.Namespace):
    """``--rig FILE`` read once (an error now, not per pair), ``--align auto``, or ``None``."""
    if args.rig and args.align:
        raise ValueError("give --rig FILE or --align auto, not both")
    if args.rig:
        from ..registration import Alignment

        return Alignment.load(args.rig)
    return args.align


def run(args: argparse.Namespace) -> int:
    from ..pairing import Matching, plan_outputs
    from ..ranks import Ranks
    from ..runner import fuse_pairs
    from ..samples import sample_pair_paths
    from ..video import is_video

    if (args.ir is None) != (args.vis is None):
        raise ValueError("give both IR and VIS, or neither to fuse the bundled sample pair")
    if args.workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {args.workers}")
    ranks = Ranks.from_env()
    ir, vis = (args.ir, args.vis) if args.ir is not None else tuple(str(p) for p in sample_pair_paths())
    if is_video(ir) or is_video(vis):
        if not (is_video(ir) and is_video(vis)):
            raise ValueError(f"{ir!r} and {vis!r}: give two videos, two images, two folders or two globs")
        if args.rig or args.align:
            raise ValueError("--rig and --align are not supported for videos yet; register the frames as images")
        if ranks.rank > 0:  # one video is one job: the first process does it
            return 0
        return _video(args, ir, vis)

    alignment = _alignment(args)
    pairs, out_dir, fmt = _pairs_and_output(args, ir, vis)
    single = out_dir is None
    plan_outputs(pairs, out_dir, fmt)  # refuse bad outputs (on every rank) before spending time on the model
    # under torchrun: this process's share of the pairs; unmatched files are reported once, by the first
    mine = Matching(ranks.share(pairs), pairs.unmatched if ranks.rank == 0 else ())
    fuser = _load(args, ranks) if not args.dry_run and mine else None
    summary = fuse_pairs(
        fuser, mine, out_dir, fmt=fmt, bit_depth=args.bit_depth, resize=args.resize,
        thermal_range=args.thermal_range, overwrite=args.overwrite, dry_run=args.dry_run, workers=args.workers,
        progress=not args.quiet and not single and ranks.rank == 0, report=_report, alignment=alignment,
    )
    listing = zlib.crc32("\n".join(f"{p.ir}\t{p.vis}" for p in pairs).encode())
    return _report_summary(args, summary, ranks, mine if single else None, listing)
