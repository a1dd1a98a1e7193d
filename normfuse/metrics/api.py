"""Computing metrics for an image or a folder, and writing the results (CSV, JSON, Markdown).

Examples:
    >>> from normfuse.samples import sample_pair_paths
    >>> ir, vis = sample_pair_paths()
    >>> scores = compute(vis, ir, vis, names=["EN", "SSIM"])
    >>> sorted(scores), round(scores["EN"], 3)
    (['EN', 'SSIM'], 7.042)
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..io import IMAGE_SUFFIXES
from ..pairing import by_stem, list_images
from . import basic, fidelity, information, qabf, robustness, structural, vif  # noqa: F401  (register the metrics)
from .images import ImageLike, gray8_triplet
from .registry import METRICS, get, resolve_names

__all__ = ["compute", "evaluate_folder", "match_folders", "write_csv", "write_json", "markdown_table", "IMAGE_SUFFIXES"]



def compute(
    fused: ImageLike,
    ir: ImageLike | None,
    vis: ImageLike | None,
    names: Iterable[str] | str | None = None,
    convention: str = "normfuse",
) -> dict[str, float]:
    """Fusion metrics of one fused image and its two sources.

    Each image is reduced to 8-bit grey (:func:`~normfuse.metrics.images.to_gray8`:
    BT.601 luminance for colour, float [0, 1] times 255, rounded to 0..255) and
    all arithmetic is float64 on the 0-255 scale.

    Args:
        fused: the fused image; numpy array, torch tensor or path.
        ir: the infrared source (may be ``None`` when only metrics of ``fused`` alone are asked for).
        vis: the visible source (likewise).
        names: metric names (case-insensitive; see :func:`~normfuse.metrics.available`);
            default the 11 of :data:`~normfuse.metrics.DEFAULT_METRICS`, or under another
            convention all the metrics that convention defines.
        convention: ``"normfuse"`` (the standard metrics) or a preset reproducing another
            evaluation code: ``"tang-matlab"``, ``"tang-2022"``, ``"cddfuse"``, ``"vifb"``
            (see :mod:`normfuse.metrics.conventions` and ``docs/metrics.md``).

    Returns:
        ``{name: value}`` in the order asked for.

    Raises:
        ValueError: an unknown name (the message lists the valid ones), images of different
            sizes (the message names both), or a metric that needs sources without them.

    Examples:
        >>> import numpy as np
        >>> x = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
        >>> s = compute(x, x, x)
        >>> list(s)
        ['EN', 'SD', 'SF', 'MG', 'MI', 'VIF', 'Qabf', 'SSIM', 'SCD', 'PSNR', 'CC']
        >>> s["EN"], s["MI"], round(s["VIF"], 6), s["PSNR"]
        (6.0, 12.0, 1.0, inf)
        >>> compute(x, None, None, names="SD_colmean")
        {'SD_colmean': 0.0}
        >>> compute(x, x, x, names=["MI", "PSNR"], convention="cddfuse")   # nats; peak max(F)
        {'MI': 8.317766166719343, 'PSNR': inf}
    """
    if convention is None or str(convention).casefold() != "normfuse":
        from .conventions import compute_convention

        return compute_convention(fused, ir, vis, names, "normfuse" if convention is None else convention)
    keys = resolve_names(names)
    infos = [get(k) for k in keys]
    missing = [i.name for i in infos if i.needs_sources]
    if missing and (ir is None or vis is None):
        raise ValueError(f"metrics {', '.join(missing)} need both source images (ir and vis)")
    f, a, b = gray8_triplet(fused, ir, vis)
    return {i.name: i.apply(f, a, b) for i in infos}


def _index_by_stem(folder: Path, label: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise ValueError(f"{label} folder {str(folder)!r} does not exist or is not a folder")
    unique, clashes = by_stem(list_images(folder, allow_empty=True))
    if clashes:
        names = ", ".join(c.path.name for c in clashes)
        raise ValueError(f"{label} folder {str(folder)!r} has several images with the same name: {names}")
    return unique


def match_folders(
    fused_dir: str | os.PathLike, ir_dir: str | os.PathLike, vis_dir: str | os.PathLike
) -> dict[str, tuple[Path, Path, Path]]:
    """``{stem: (fused, ir, vis)}`` for every image in ``fused_dir``, partners matched by file stem.

    Suffixes may differ (``01.png`` fused from ``01.bmp`` sources).  Extra source
    images without a fused partner are ignored.

    Raises:
        ValueError: a folder is missing or has no images, two images in one folder
            share a stem, or fused images lack a partner (all such names are listed).

    Examples:
        >>> import tempfile, numpy as np, imageio.v3 as iio
        >>> d = Path(tempfile.mkdtemp())
        >>> for sub, name in [("f", "1.png"), ("i", "1.bmp"), ("v", "1.jpg"), ("f", "2.png")]:
        ...     (d / sub).mkdir(exist_ok=True); iio.imwrite(d / sub / name, np.zeros((8, 8), np.uint8))
        >>> match_folders(d / "f", d / "i", d / "v")
        Traceback (most recent call last):
        ...
        ValueError: fused images without a source partner: 2 (no ir, no vis)
        >>> (d / "f" / "2.png").unlink(); [p.name for p in match_folders(d / "f", d / "i", d / "v")["1"]]
        ['1.png', '1.bmp', '1.jpg']
    """
    fused = _index_by_stem(Path(fused_dir), "fused")
    if not fused:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in fused folder {str(fused_dir)!r}")
    irs = _index_by_stem(Path(ir_dir), "ir")
    viss = _index_by_stem(Path(vis_dir), "vis")
    problems = []
    for stem in fused:
        lacks = [label for label, idx in (("ir", irs), ("vis", viss)) if stem not in idx]
        if lacks:
            problems.append(f"{stem} ({', '.join('no ' + x for x in lacks)})")
    if problems:
        raise ValueError(f"fused images without a source partner: {'; '.join(problems)}")
    return {stem: (fused[stem], irs[stem], viss[stem]) for stem in fused}


def evaluate_folder(
    fused_dir: str | os.PathLike,
    ir_dir: str | os.PathLike,
    vis_dir: str | os.PathLike,
    names: Iterable[str] | str | None = None,
    convention: str = "normfuse",
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Metrics of every fused image in a folder, and their means (the usual data-set figure).

    Partners are matched by file stem (see :func:`match_folders`); ``convention`` as in :func:`compute`.

    Returns:
        ``(per_image, mean)``: ``per_image[stem][metric]`` and ``mean[metric]`` (the plain
        mean over images; a NaN for one image makes that metric's mean NaN).

    Examples:
        >>> import tempfile, numpy as np, imageio.v3 as iio
        >>> d = Path(tempfile.mkdtemp())
        >>> x = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
        >>> for sub in ("f", "i", "v"):
        ...     (d / sub).mkdir(); iio.imwrite(d / sub / "a.png", x); iio.imwrite(d / sub / "b.png", x.T)
        >>> per_image, mean = evaluate_folder(d / "f", d / "i", d / "v", names=["EN", "MI"])
        >>> sorted(per_image), mean
        (['a', 'b'], {'EN': 6.0, 'MI': 12.0})
    """
    if str(convention).casefold() == "normfuse":
        keys = resolve_names(names)
    else:
        from .conventions import get_convention

        keys = get_convention(convention).resolve(names)
    pairs = match_folders(fused_dir, ir_dir, vis_dir)
    per_image = {stem: compute(f, i, v, keys, convention) for stem, (f, i, v) in pairs.items()}
    mean = {k: float(np.mean([row[k] for row in per_image.values()])) for k in keys}
    return per_image, mean


def _columns(rows: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None) -> list[str]:
    if metrics is not None:
        return list(metrics)
    cols: list[str] = []
    for row in rows.values():
        cols.extend(k for k in row if k not in cols)
    return cols


def write_csv(
    path: str | os.PathLike,
    rows: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] | None = None,
    index_name: str = "image",
    digits: int = 6,
) -> Path:
    """Write ``rows`` (``{row name: {metric: value}}``, e.g. ``per_image``) as CSV; returns the path.

    Columns are ``index_name`` then ``metrics`` (default: every metric found, in first-seen
    order); values are written with ``digits`` decimals, missing ones left empty.

    Examples:
        >>> import tempfile
        >>> p = write_csv(Path(tempfile.mkdtemp()) / "m.csv", {"01": {"EN": 7.0, "SD": 40.123456789}})
        >>> print(p.read_text().strip())
        image,EN,SD
        01,7.000000,40.123457
    """
    p = Path(path)
    cols = _columns(rows, metrics)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([index_name, *cols])
        for name, row in rows.items():
            w.writerow([name, *("" if row.get(c) is None else f"{float(row[c]):.{digits}f}" for c in cols)])
    return p


def _jsonable(x):
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(path: str | os.PathLike, data) -> Path:
    """Write results (any nesting of dicts, lists and numbers) as standard JSON; returns the path.

    Non-finite numbers (NaN, the infinite PSNR of identical images) become ``null``.

    Examples:
        >>> import tempfile
        >>> p = write_json(Path(tempfile.mkdtemp()) / "m.json", {"mean": {"EN": 7.0, "PSNR": float("inf")}})
        >>> json.loads(p.read_text())
        {'mean': {'EN': 7.0, 'PSNR': None}}
    """
    p = Path(path)
    p.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return p


def markdown_table(
    rows: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] | None = None,
    digits: int = 3,
    mark_best: bool = False,
    index_name: str = "method",
) -> str:
    """A Markdown table with one row per method and one column per metric.

    Args:
        rows: ``{method: {metric: value}}`` (e.g. the ``mean`` of several :func:`evaluate_folder` runs).
        metrics: the columns, in order (default: every metric found).
        digits: decimals shown.
        mark_best: bold the best value of each registered metric's column (by its ``higher_is_better``).
        index_name: header of the first column.

    Examples:
        >>> print(markdown_table({"A": {"EN": 7.0061, "SD": 42.0}, "B": {"EN": 6.5}}, ["EN", "SD"], mark_best=True))
        | method | EN | SD |
        | --- | --- | --- |
        | A | **7.006** | **42.000** |
        | B | 6.500 | - |
    """
    cols = _columns(rows, metrics)
    best: dict[str, float] = {}
    if mark_best:
        for c in cols:
            vals = [float(r[c]) for r in rows.values() if r.get(c) is not None and not math.isnan(float(r[c]))]
            key = next((k for k in METRICS if k.casefold() == c.casefold()), None)
            if vals and key is not None:
                best[c] = max(vals) if METRICS[key].higher_is_better else min(vals)
    lines = [
        "| " + " | ".join([index_name, *cols]) + " |",
        "| " + " | ".join(["---"] * (len(cols) + 1)) + " |",
    ]
    for name, row in rows.items():
        cells = [str(name)]
        for c in cols:
            v = row.get(c)
            if v is None:
                cells.append("-")
                continue
            text = f"{float(v):.{digits}f}"
            cells.append(f"**{text}**" if c in best and float(v) == best[c] else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
