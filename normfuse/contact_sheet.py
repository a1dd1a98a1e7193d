"""A contact sheet of fused images: per data set one dark, one day and one low-contrast pair, plus 1:1 crops.

The three pairs are chosen by rule, not by hand (:func:`pick_pairs`): the
darkest visible image, the brightest visible image, and the flattest thermal
image (lowest standard deviation of the IR image) among the rest.

Below them, four rows of 1:1 crops (:data:`CROP` pixels square) show what a
person sees and a metric misses (:func:`pick_crops`, by rule over all the
pairs): a saturated sky over a cold thermal background, a lamp or headlights
at night, foliage against the sky, and a noisy area flat in both sources.
:func:`crop_mosaic` writes the same crops pixel for pixel, unscaled.

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

from .io import atomic_write_image, read_image, to_gray

__all__ = ["pick_pairs", "pick_crops", "crop_mosaic", "contact_sheet", "CROP"]

Pair = tuple[str, Path, Path]
#: Side of the 1:1 crops, in pixels.
CROP = 128
#: ``(kind, pair, (top, left))`` of a crop.
Crop = tuple[str, Pair, tuple[int, int]]


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


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x.astype(np.float64), sigma, mode="reflect")


def _pool(x: np.ndarray, k: int = 4) -> np.ndarray:
    """Mean of ``k`` x ``k`` blocks (the score maps are smooth: a quarter resolution is enough)."""
    h, w = x.shape[0] // k * k, x.shape[1] // k * k
    return x[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def _scores(ir: np.ndarray, vis: np.ndarray) -> dict[str, np.ndarray]:
    """Score maps (quarter resolution) of each crop kind for one pair of 0-255 grey images; higher: a better example."""
    day, night = float(vis.mean() >= 90), float(vis.mean() < 70)
    sky = _pool(((vis >= 240) & (vis - ir >= 100)).astype(np.float64))
    bright = _pool((vis >= 200).astype(np.float64)) * day
    lamp = _pool((vis >= 250).astype(np.float64)) * night  # saturated pixels of a night scene
    hp_vis = _pool(np.square(vis - _blur(vis, 1.0)))
    flat = np.ones_like(hp_vis)
    for hp in (_pool(np.square(ir - _blur(ir, 1.0))), hp_vis):
        energy = _blur(hp, 0.75)
        flat *= energy <= np.percentile(energy, 25.0)
    sky_b, bright_b = _blur(sky, 6.0), _blur(bright, 3.0)
    return {
        "saturated sky": sky_b * (1.0 - sky_b) * sky.sum() ** 0.5,  # its edge; big skies first
        "lamp at night": _blur(lamp, 2.0),
        "foliage against the sky": bright_b * (1.0 - bright_b) * np.sqrt(_blur(hp_vis, 1.0)),
        "noisy flat area": _blur(flat, 6.0) * np.sqrt(_blur(hp_vis, 6.0)),
    }


def pick_crops(pairs: Sequence[Pair]) -> list[Crop]:
    """The 1:1 crops of the four kinds, each the best-scoring window over all ``pairs`` (kinds no pair shows
    are left out; a saturated-sky crop and a foliage crop come from different pairs)."""
    best: dict[str, tuple[float, Pair, tuple[int, int]]] = {}
    for pair in pairs:
        ir, vis = (np.rint(to_gray(read_image(p)) * 255) for p in pair[1:])
        h, w = vis.shape
        if min(h, w) < CROP:
            continue
        q = CROP // 8  # half a crop at quarter resolution
        for kind, score in _scores(ir, vis).items():
            inner = score[q: h // 4 - q + 1, q: w // 4 - q + 1]
            y, x = (4 * int(i) for i in np.unravel_index(int(np.argmax(inner)), inner.shape))
            value = float(inner[y // 4, x // 4])
            taken = kind == "foliage against the sky" and best.get("saturated sky", (0, ("",)))[1][0] == pair[0]
            if value > 0 and not taken and value > best.get(kind, (0.0,))[0]:
                best[kind] = (value, pair, (y, x))
    return [(kind, pair, yx) for kind, (_, pair, yx) in best.items()]


def _crop(path: Path, top_left: tuple[int, int]) -> np.ndarray:
    y, x = top_left
    img = np.asarray(read_image(path))
    return img[y: y + CROP, x: x + CROP]


def _grey8(img: np.ndarray) -> np.ndarray:
    return np.rint(to_gray(img) * 255).astype(np.uint8) if img.dtype != np.uint8 or img.ndim == 3 else img


def crop_mosaic(crops: Sequence[Crop], fused_folders: Mapping[str, Mapping[str, Path]], datasets: Mapping[str, str],
                path: str | os.PathLike) -> Path:
    """Write the crops unscaled: one row per crop (IR, visible, then each method), 4 px white gaps, 8-bit grey.

    ``datasets`` maps each crop's pair stem to its data set (the key of ``fused_folders``).
    """
    rows = []
    for _, (stem, ir, vis), yx in crops:
        folders = fused_folders[datasets[stem]]
        tiles = [_grey8(_crop(ir, yx)), _grey8(_crop(vis, yx))]
        tiles += [_grey8(_crop(_fused_path(folders[m], stem), yx)) for m in folders]
        gap = np.full((CROP, 4), 255, np.uint8)
        rows.append(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1])), constant_values=255) for r in rows]
    return atomic_write_image(path, np.concatenate(rows)[:-4], overwrite=True)


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
    """Draw, for each set, its :func:`pick_pairs` rows, then the :func:`pick_crops` rows (1:1 crops): IR, visible,
    then each method's fused image.  The crops are also written unscaled next to ``path`` (``<stem>_crops.png``).

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
    rows: list[tuple[str, str, Pair, tuple[int, int] | None]] = [
        (ds, kind, pair, None) for ds, pairs in sets.items() for kind, pair in pick_pairs(pairs).items()]
    owner = {p[0]: ds for ds, pairs in sets.items() for p in pairs}
    crops = pick_crops([p for pairs in sets.values() for p in pairs])
    rows += [(owner[pair[0]], f"{kind}\n1:1 at {yx}", pair, yx) for kind, pair, yx in crops]
    methods = list(dict.fromkeys(m for ds in sets for m in fused_folders.get(ds, {})))
    ncols = 2 + len(methods)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.2 * ncols, 1.9 * len(rows)), squeeze=False)
    for r, (ds, kind, (stem, ir, vis), yx) in enumerate(rows):
        images = [("IR", ir), ("visible", vis)] + [(m, _fused_path(fused_folders[ds][m], stem)) for m in methods]
        for c, (title, p) in enumerate(images):
            ax = axes[r][c]
            img = np.asarray(read_image(p)) if yx is None else _crop(p, yx)
            ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
        axes[r][0].set_ylabel(f"{ds} {stem}\n{kind}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if crops:
        crop_mosaic(crops, {ds: {m: fused_folders[ds][m] for m in methods} for ds in sets}, owner,
                    Path(path).with_name(Path(path).stem + "_crops.png"))
    return Path(path)
