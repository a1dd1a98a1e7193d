"""Paired IR/visible training data: ``<root>/ir/NAME`` with ``<root>/vis/NAME``.

Images are converted to grey (BT.601 luminance for colour), scaled to [0, 1]
and kept in memory (the data sets this is meant for hold a few hundred pairs).
The letter's recipe takes one 128 x 128 centre crop per pair; random crops,
flips and the photometric augmentation of the fusion stage
(:class:`Photometric`: night-like darkening, brightening, flat thermal
contrast) are options.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from ..io import read_image, to_gray
from ..pairing import Pair, match_pairs, split_pairs
from .config import Photometric

__all__ = ["PairedImageFolder", "CropPolicy", "Photometric", "list_pairs", "training_set"]

def list_pairs(root: str | os.PathLike, split: str | os.PathLike | None = None, subset: str = "train") -> list[Pair]:
    """The pairs of ``root/ir`` and ``root/vis``, matched by file stem, or the ``subset`` list of a JSON split file.

    Without a split, every image must have a partner (matched as ``normfuse fuse``
    matches folders: :func:`normfuse.pairing.match_pairs`).

    Raises:
        FileNotFoundError: ``root/ir`` or ``root/vis`` is missing or holds no images, or a split name has no file.
        ValueError: an image has no partner or shares its stem with another, or the split has no ``subset`` key.
    """
    root = Path(root)
    for sub in ("ir", "vis"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"expected a folder {str(root / sub)!r} with the {sub} images")
    if split is not None:
        return split_pairs(root, split, subset)
    return match_pairs(root / "ir", root / "vis").complete(f"training pairs in {str(root)!r}")


@dataclass(frozen=True)
class CropPolicy:
    """How training crops are taken: ``size`` square crops, ``per_image`` per pair and epoch.

    ``random=False`` is the letter's centre crop (then ``per_image`` repeats it).
    """

    size: int = 128
    per_image: int = 1
    random: bool = False
    flip: bool = False


class PairedImageFolder(Dataset):
    """Aligned IR/visible pairs as ``(ir, vis)`` crops, each ``(1, size, size)`` float32 in [0, 1].

    Args:
        root: folder with ``ir/`` and ``vis/``.
        split: optional JSON split file; ``subset`` selects its list.
        crop: the :class:`CropPolicy`.
        seed: seeds the random crops (each ``(epoch, index)`` gets its own stream).
        photometric: optional :class:`Photometric` augmentation of each crop.

    Raises:
        ImageReadError: a file cannot be read (named).
        ValueError: a pair's sizes differ or an image is smaller than the crop (named).

    Examples:
        >>> ds = PairedImageFolder("my_pairs/", crop=CropPolicy(size=64))  # doctest: +SKIP
        >>> ds[0][0].shape  # doctest: +SKIP
        torch.Size([1, 64, 64])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | os.PathLike | None = None,
        subset: str = "train",
        crop: CropPolicy | None = None,
        seed: int = 0,
        photometric: Photometric | None = None,
    ):
        self.root = Path(root)
        self.crop = CropPolicy() if crop is None else crop
        self.photometric = photometric
        self.seed = seed
        self.epoch = 0
        self.pairs = list_pairs(self.root, split, subset)
        self.names = [p.name for p in self.pairs]
        self.images: list[tuple[np.ndarray, np.ndarray]] = []
        for pair in self.pairs:
            name = pair.name
            ir, vis = to_gray(read_image(pair.ir)), to_gray(read_image(pair.vis))
            if ir.shape != vis.shape:
                raise ValueError(f"pair {name!r}: ir is {ir.shape[0]}x{ir.shape[1]} but vis is {vis.shape[0]}x{vis.shape[1]}")
            if min(ir.shape) < self.crop.size:
                raise ValueError(f"pair {name!r} of size {ir.shape} is smaller than the {self.crop.size} crop")
            self.images.append((ir, vis))

    def set_epoch(self, epoch: int) -> None:
        """Change the random stream of the crops (call once per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images) * self.crop.per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        ir, vis = self.images[index % len(self.images)]
        s = self.crop.size
        h, w = ir.shape
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.crop.random:
            y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        else:
            y, x = (h - s) // 2, (w - s) // 2
        a, b = ir[y : y + s, x : x + s], vis[y : y + s, x : x + s]
        if self.crop.flip:
            if rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            if rng.random() < 0.5:
                a, b = a[::-1], b[::-1]
        if self.photometric is not None and self.photometric.active:
            a, b = self.photometric(a, rng), self.photometric(b, rng)
        return torch.from_numpy(np.ascontiguousarray(a))[None], torch.from_numpy(np.ascontiguousarray(b))[None]


class _Epochs(ConcatDataset):
    """A concatenation of :class:`PairedImageFolder` s that passes ``set_epoch`` and the augmentation on."""

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            d.set_epoch(epoch)  # type: ignore[attr-defined]

    def set_photometric(self, photometric: Photometric | None) -> None:
        for d in self.datasets:
            d.photometric = photometric  # type: ignore[attr-defined]


def training_set(
    roots: Sequence[str | os.PathLike],
    splits: Sequence[str | os.PathLike | None],
    crop: CropPolicy,
    seed: int = 0,
    photometric: Photometric | None = None,
) -> _Epochs:
    """The ``"train"`` pairs of several folders as one data set (each folder with its split, or all pairs).

    Raises:
        ValueError: no folder given (the message says to pass ``--data DIR``).
    """
    if not roots:
        raise ValueError("no training data: pass --data DIR (a folder with ir/ and vis/; several folders may follow)")
    return _Epochs([
        PairedImageFolder(r, s, "train", crop, seed=seed + 7919 * k, photometric=photometric)
        for k, (r, s) in enumerate(zip(roots, splits))
    ])
