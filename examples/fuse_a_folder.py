"""Fuse every pair of two folders (matched by file name) from Python.

    python examples/fuse_a_folder.py IR_DIR VIS_DIR OUT_DIR

The command line does the same with progress, skipping and atomic writes:
``normfuse fuse IR_DIR VIS_DIR -o OUT_DIR``.
"""

import sys
from pathlib import Path

import imageio.v3 as iio

from normfuse import ImageReadError, NormFuser

ir_dir, vis_dir, out_dir = (Path(a) for a in sys.argv[1:4])
out_dir.mkdir(parents=True, exist_ok=True)
fuser = NormFuser.from_pretrained()
for ir_path in sorted(ir_dir.iterdir()):
    vis_path = vis_dir / ir_path.name
    try:
        fused = fuser.fuse(ir_path, vis_path)
    except (ImageReadError, ValueError) as exc:
        print(f"skipped {ir_path.name}: {exc}")
        continue
    iio.imwrite(out_dir / f"{ir_path.stem}.png", fused)
    print(f"fused {ir_path.name}")
