"""``normfuse train``: train a NormFuse model on paired IR/visible folders.

Under ``torchrun --nproc_per_node N -m normfuse train ...`` it trains
data-parallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import json


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model", description=__doc__)
    p.add_argument("--data", help="folder with ir/ and vis/ (default: ../shared/data/roadscene)")
    p.add_argument("--split", help="JSON split file whose 'train' list is used (default: all pairs)")
    p.add_argument("--out", help="run folder (default: runs/normfuse)")
    p.add_argument("--config", help="JSON file of TrainConfig fields; flags override it")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--max-steps", type=int, help="stop after this many optimisation steps")
    p.add_argument("--width", type=int, help="feature width of the network")
    p.add_argument("--variant", choices=["normfuse", "rescat"])
    p.add_argument("--crops-per-image", type=int)
    p.add_argument("--random-crop", action="store_true", default=None, help="random instead of centre crops")
    p.add_argument("--flip", action="store_true", default=None, help="random flips")
    p.add_argument("--bf16", action="store_true", default=None, help="bfloat16 autocast")
    p.add_argument("--channels-last", action="store_true", default=None)
    p.add_argument("--device", help="cpu or cuda")
    p.add_argument("--seed", type=int)
    p.add_argument("--init", help="fine-tune: start from this model folder ('bundled': the package's weights)")
    p.add_argument("--freeze-norm-stats", action="store_true", default=None,
                   help="keep the normalisations' running statistics fixed")
    p.add_argument("--bf16-consistency", type=float, help="weight of the bf16-versus-fp32 fused-image term")
    p.add_argument("--bf16-error-scale", type=float,
                   help="that term's simulated rounding error, in multiples of bfloat16's (default 1; more leaves a margin)")
    p.add_argument("--distill", type=float, help="weight of the fused-image term towards the --init model")
    p.add_argument("--fusion", help="fusion rule STRUCTURE:DETAIL:SKIP for those terms and the saved model, e.g. sum:sum:sum")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..network import FusionRule
    from ..train.loop import TrainConfig, train

    cfg = TrainConfig.from_json(args.config) if args.config else TrainConfig()
    flags = {
        "data": args.data, "split": args.split, "out": args.out, "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": args.lr, "max_steps": args.max_steps,
        "crops_per_image": args.crops_per_image, "random_crop": args.random_crop, "flip": args.flip,
        "bf16": args.bf16, "channels_last": args.channels_last, "device": args.device, "seed": args.seed,
        "init": args.init, "freeze_norm_stats": args.freeze_norm_stats, "bf16_consistency": args.bf16_consistency,
        "bf16_error_scale": args.bf16_error_scale, "distill": args.distill,
    }
    if args.fusion is not None:
        fields = [f.name for f in dataclasses.fields(FusionRule)]  # structure, detail, skip
        parts = args.fusion.split(":")
        if len(parts) != len(fields):
            raise SystemExit(f"--fusion must be STRUCTURE:DETAIL:SKIP (e.g. sum:sum:sum), got {args.fusion!r}")
        flags["fusion"] = dict(zip(fields, parts))
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    if args.data and not args.split and not args.config:
        cfg.split = None
    if args.no_progress:
        cfg.progress = False
    model = dict(cfg.model)
    if args.width is not None:
        model["width"] = args.width
    if args.variant is not None:
        model["variant"] = args.variant
    cfg.model = model
    final = train(cfg, resume=args.resume)
    print(json.dumps({"model_folder": str(final)}))
    return 0
