"""Train a NormFuse model on your own aligned pairs (DIR/ir/NAME with DIR/vis/NAME).

    python examples/train_on_your_data.py DIR [OUT]

A short run for illustration: 3 epochs of the letter's loss, then 2 of the
fusion stage.  The default model's full recipe is ``normfuse train --data DIR
--out OUT`` (120 + 7 epochs; see weights/README.md).
"""

import sys

from normfuse import NormFuser
from normfuse.train import TrainConfig, train

data = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else "runs/example"
cfg = TrainConfig(data=[data], out=out, epochs=3, fusion_epochs=2, batch_size=8)
final = train(cfg, resume=False)
fuser = NormFuser.from_pretrained(final)
print("trained model in", final, "->", fuser)
