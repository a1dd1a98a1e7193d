"""``normfuse export``: write a model's fusion forward as ONNX or OpenVINO IR.

Examples::

    normfuse export --format onnx -o exported/                # the default model
    normfuse export normfuse-roadscene --format openvino -o ov/
    normfuse export path/to/model --format onnx -o out/ --overwrite

The graph has two inputs, ``ir`` and ``vis`` (B, 1, H, W) float32 in [0, 1],
and one output ``fused`` of the same shape; batch, height and width are
dynamic. ``export.json`` beside it describes them. ONNX needs
``pip install 'normfuse[onnx]'``, OpenVINO ``pip install 'normfuse[openvino]'``.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model's fusion forward to ONNX or OpenVINO IR",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default=None,
                   help="model name, folder or Hugging Face repo id (default: the bundled default model)")
    p.add_argument("--format", choices=("onnx", "openvino"), default="onnx", help="onnx (default) or openvino")
    p.add_argument("-o", "--output", required=True, help="folder to write into (created)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in the folder")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..export import ExportSupportMissing
    from ..fuser import NormFuser
    from ._common import check_model_arg

    check_model_arg(args.model)
    fuser = NormFuser.from_pretrained(args.model, device="cpu", precision="fp32")
    try:
        path = fuser.export(args.output, format=args.format, overwrite=args.overwrite)
    except ExportSupportMissing as exc:
        print(f"normfuse export: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} (inputs ir, vis: (B, 1, H, W) float32 in [0, 1]; output fused)")
    return 0
