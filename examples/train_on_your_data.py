"""Train a NormFuse model on your own aligned pairs (DIR/ir/NAME with DIR/vis/NAME).

    python examples/train_on_your_data.py DIR [OUT]

A short run for illustration (a few epochs, small width); the letter's full
recipe is ``normfuse train --data DIR --epochs 120 --batch-size 24``.
"""

import sys

from normfuse import NormFuser
from normfuse.train.loop import TrainConfig, train

data = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else "runs/example"
cfg = TrainConfig(data=data, split=None, out=out, epochs=3, batch_size=8, crops_per_image=2, random_crop=True,
                  flip=True, bf16=True, channels_last=True, model={"width": 16})
final = train(cfg, resume=False)
fuser = NormFuser.from_pretrained(final)
print("trained model in", final, "->", fuser)
