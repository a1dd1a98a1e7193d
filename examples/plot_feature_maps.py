"""Extract the structure/detail feature maps of a pair and plot them (needs matplotlib).

    python examples/plot_feature_maps.py [IR VIS] [-o maps.png]

Draws IR, visible and fused images, one channel of S_I, S_V, D_I, D_V, and the
inside of the first PEAN layer (BN(h), gamma, beta, gamma * BN(h)), like the
letter's Figs. 3-4. ``normfuse explain`` does the same from the shell.
"""

import argparse

from normfuse import NormFuser
from normfuse.explain import feature_figure
from normfuse.samples import sample_pair_paths

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("ir", nargs="?", help="infrared image (default: the bundled sample pair)")
ap.add_argument("vis", nargs="?", help="visible image")
ap.add_argument("-o", "--output", default="maps.png", help="output PNG (default: maps.png)")
args = ap.parse_args()
if (args.ir is None) != (args.vis is None):
    ap.error("give both IR and VIS, or neither for the bundled sample pair")
ir, vis = (args.ir, args.vis) if args.ir else sample_pair_paths()
fuser = NormFuser.from_pretrained(device="cpu", precision="fp32")

feats = fuser.encode(ir)  # Features(structure, detail, skips), each (1, width, H, W)
print("S_I", tuple(feats.structure.shape), "D_I", tuple(feats.detail.shape))
print("wrote", feature_figure(fuser, ir, vis, args.output))
