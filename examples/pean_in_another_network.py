"""Reuse PEAN in a network that has nothing to do with NormFuse.

A tiny conditional denoiser: a noisy image is cleaned by a conv stack whose
normalisations are steered, pixel by pixel, by a low-resolution guide map
(PEAN resizes the condition to each feature map).  Trains for a few steps on a
real image and prints the loss going down.

    python examples/pean_in_another_network.py
"""

from __future__ import annotations

import torch
from torch import nn

from normfuse import PEAN, PEANResBlock


class GuidedDenoiser(nn.Module):
    """``(B, 1, H, W)`` noisy image + ``(B, 1, H/4, W/4)`` guide -> ``(B, 1, H, W)`` clean estimate."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.inp = nn.Conv2d(1, width, 3, padding=1)
        self.block = PEANResBlock(width, width, cond_channels=1, norm="instance")
        self.pean = PEAN(width, cond_channels=1, norm="batch")
        self.out = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, noisy: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        h = self.block(torch.relu(self.inp(noisy)), guide)
        return noisy + self.out(torch.relu(self.pean(h, guide)))


def train_steps(image: torch.Tensor, steps: int = 30, seed: int = 0) -> list[float]:
    """Train :class:`GuidedDenoiser` on ``image`` ``(1, 1, H, W)``; return the loss per step."""
    torch.manual_seed(seed)
    net = GuidedDenoiser()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    guide = nn.functional.avg_pool2d(image, 4)
    losses = []
    for _ in range(steps):
        noisy = image + 0.1 * torch.randn_like(image)
        loss = nn.functional.mse_loss(net(noisy, guide), image)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


if __name__ == "__main__":
    from normfuse.io import read_image, to_gray
    from normfuse.samples import sample_pair_paths

    img = torch.from_numpy(to_gray(read_image(sample_pair_paths()[1])))[None, None, :128, :128]
    losses = train_steps(img)
    print(f"loss: first {losses[0]:.5f} -> last {losses[-1]:.5f}")
