"""normfuse train: train a NormFuse model on folders of paired IR/visible images.

With no other flag than --data and --out it trains the default model's recipe
(120 epochs of the NormFuse letter's loss, then 7 epochs of the fusion stage;
see weights/README.md). --fusion-epochs 0 gives the letter's recipe alone.
--out RUN --resume continues RUN with the settings in RUN/train_config.json;
flags given with it change those settings (for example --epochs to train longer;
once the fusion stage has begun, only --fusion-epochs can extend the run).
One training at a time per run folder: a second one refuses while RUN/.lock
names a running process.
Under torchrun --nproc_per_node N -m normfuse train ... it trains data-parallel.

examples:
  normfuse train --data pairs/ --out runs/mine
  normfuse train --data roadscene/ llvip/ --split roadscene/split.json llvip/split.json --out runs/x
  normfuse train --init normfuse-letter --epochs 0 --fusion-epochs 10 --data pairs/ --out runs/ft
  normfuse train --out runs/mine --resume
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from ..train.config import CONFIG_FILE, TrainConfig

#: TrainConfig fields with a hand-made flag (or none): the model's dict is set by --width and --variant.
_SPECIAL = {"model", "fusion", "split"}


def _kv(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, float(value)


def _optional_path(text: str) -> str | None:
    return None if text.lower() == "none" else text


def _add_field_flag(p: argparse.ArgumentParser, f: dataclasses.Field, hints: dict[str, Any]) -> None:
    flag = "--" + f.name.replace("_", "-")
    help_ = f.metadata.get("help", "")
    hint = hints[f.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None -> X
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    kind = typing.get_origin(hint) or hint
    if kind is bool:
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
    elif kind is list:
        p.add_argument(flag, nargs="+", default=None, help=help_)
    elif kind is dict:
        p.add_argument(flag, nargs="+", type=_kv, default=None, metavar="KEY=VALUE", help=help_)
    else:
        p.add_argument(flag, type=kind, default=None, help=help_)


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="JSON file of TrainConfig fields; flags override it")
    p.add_argument("--resume", action="store_true", help="continue <out> from its checkpoint, with its settings")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name not in _SPECIAL:
            _add_field_flag(p, f, hints)
    p.add_argument("--split", nargs="+", type=_optional_path, default=None,
                   help=TrainConfig.__dataclass_fields__["split"].metadata["help"])
    p.add_argument("--fusion", help=TrainConfig.__dataclass_fields__["fusion"].metadata["help"])
    p.add_argument("--width", type=int, help="feature width of a new model (default 16)")
    p.add_argument("--variant", choices=["normfuse", "rescat"], help="decoder of a new model (rescat: the ablation)")
    p.set_defaults(run=run)


def _base_config(args: argparse.Namespace) -> TrainConfig:
    """The settings flags apply to: --config, else the run's own when resuming, else the defaults."""
    if args.config:
        return TrainConfig.from_json(args.config)
    if args.resume and args.out:
        saved = Path(args.out) / CONFIG_FILE
        if not saved.is_file():
            raise FileNotFoundError(f"cannot resume: {str(saved)!r} does not exist")
        return TrainConfig.from_json(saved)
    return TrainConfig()


def _fusion_rule(text: str) -> dict[str, str]:
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"--fusion must be STRUCTURE:DETAIL:SKIP (e.g. sum:sum:sum), got {text!r}")
    return dict(zip(("structure", "detail", "skip"), parts))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's :class:`TrainConfig`: the base settings with the given flags applied."""
    cfg = _base_config(args)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is None or f.name == "model":
            continue
        if f.name == "fusion":
            value = _fusion_rule(value)
        elif isinstance(getattr(cfg, f.name), dict) and isinstance(value, list):
            value = {**getattr(cfg, f.name), **dict(value)}
        changes[f.name] = value
    if args.data is not None and args.split is None and not (args.resume or args.config):
        changes["split"] = None
    model = dict(cfg.model)
    for key in ("width", "variant"):
        if getattr(args, key) is not None:
            model[key] = getattr(args, key)
    return dataclasses.replace(cfg, **changes, model=model)


def run(args: argparse.Namespace) -> int:
    from ..train.loop import train

    final = train(config_from_args(args), resume=args.resume)
    print(json.dumps({"model_folder": str(final)}))
    return 0
