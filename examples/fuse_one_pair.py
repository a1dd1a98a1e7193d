"""Fuse one infrared/visible pair with the bundled model and save the result.

    python examples/fuse_one_pair.py [IR VIS [OUT]]

Without arguments it fuses the TNO sample pair shipped with the package.
"""

import sys

import imageio.v3 as iio

from normfuse import NormFuser
from normfuse.samples import sample_pair_paths

ir, vis = sys.argv[1:3] if len(sys.argv) >= 3 else sample_pair_paths()
out = sys.argv[3] if len(sys.argv) >= 4 else "fused.png"

fuser = NormFuser.from_pretrained()  # bundled weights, offline; device="auto"
fused = fuser.fuse(ir, vis)          # uint8 array, colour if the visible image is colour
iio.imwrite(out, fused)
print(f"{fuser} wrote {out} {fused.shape} {fused.dtype}")
