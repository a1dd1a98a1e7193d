"""A contact sheet of fused images: per data set one dark, one day and one low-contrast pair.

The three pairs are chosen by rule, not by hand (:func:`pick_pairs`): the
darkest visible image, the brightest visible image, and the flattest thermal
image (lowest standard deviation of the IR image) among the rest.

Examples:
    >>> from normfuse.evaluation import dataset_pairs              # doctest: +SKIP
    >>> pick_pairs(dataset_pairs("llvip", "data"))                  # doctest: +SKIP
    {'dark': ..., 'day': ..., 'low-contrast': ...}
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .io import read_image, to_gray

__all__ = ["pick_pairs", "contact_sheet"]

Pair = tuple[str, Path, Path]


def pick_pairs(pairs: Sequence[Pair]) -> dict[str, Pair]:
    """``{"dark": pair, "day": pair, "low-contrast": pair}``: three different pairs of ``pairs`` (at least 3)."""
    if len(pairs) < 3:
        raise ValueError(f"a contact sheet needs at least 3 pairs, got {len(pairs)}")
    vis_mean, ir_sd = {}, {}
    for stem, ir, vis in pairs:
        vis_mean[stem] = float(to_gray(read_image(vis)).mean())
        ir_sd[stem] = float(to_gray(read_image(ir)).std())
    by_stem = {p[0]: p for p in pairs}
    dark = min(vis_mean, key=vis_mean.__getitem__)
    day = max((s for s in vis_mean if s != dark), key=vis_mean.__getitem__)
    flat = min((s for s in ir_sd if s not in (dark, day)), key=ir_sd.__getitem__)
    return {"dark": by_stem[dark], "day": by_stem[day], "low-contrast": by_stem[flat]}


def _fused_path(folder: Path, stem: str) -> Path:
    found = sorted(folder.glob(f"{stem}.*"))
    if not found:
        raise FileNotFoundError(f"no fused image for {stem!r} in {str(folder)!r}")
    return found[0]


def contact_sheet(
    sets: Mapping[str, Sequence[Pair]],
    fused_folders: Mapping[str, Mapping[str, Path]],
    path: str | os.PathLike,
) -> Path | None:
    """Draw, for each set, its :func:`pick_pairs` rows: IR, visible, then each method's fused image.

    Args:
        sets: ``{dataset: pairs}``.
        fused_folders: ``{dataset: {method: folder holding <stem>.<ext>}}``.
        path: the PNG to write.

    Returns:
        ``path``, or ``None`` when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [(ds, kind, pair) for ds, pairs in sets.items() for kind, pair in pick_pairs(pairs).items()]
    methods = list(dict.fromkeys(m for ds in sets for m in fused_folders.get(ds, {})))
    ncols = 2 + len(methods)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.2 * ncols, 1.9 * len(rows)), squeeze=False)
    for r, (ds, kind, (stem, ir, vis)) in enumerate(rows):
        images = [("IR", ir), ("visible", vis)] + [(m, _fused_path(fused_folders[ds][m], stem)) for m in methods]
        for c, (title, p) in enumerate(images):
            ax = axes[r][c]
            ax.imshow(np.asarray(read_image(p)), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
        axes[r][0].set_ylabel(f"{ds} {stem}\n{kind}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
