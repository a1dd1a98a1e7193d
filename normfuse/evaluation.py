"""Evaluating fusion methods on the TNO and RoadScene test pairs, and the letter's comparison.

A *method* is a :class:`~normfuse.fuser.NormFuser` or a baseline function
(:data:`normfuse.baselines.BASELINES`). :func:`run_evaluation` fuses every pair
of the chosen data sets with every method into ``<out>/<dataset>/<method>/``,
computes the metrics per image and on average, and writes CSV, JSON, a
Markdown table (next to the letter's numbers) and, when matplotlib is
installed, the letter's bar figure.

Examples:
    >>> pairs = dataset_pairs("tno")          # doctest: +SKIP
    >>> len(pairs), pairs[0][0]               # doctest: +SKIP
    (40, '01')
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Union

import numpy as np

from .baselines import BASELINES
from .batch import atomic_write_image
from .fuser import NormFuser
from .io import read_image, to_gray
from .samples import DATA_ENV, data_root

__all__ = ["LETTER_TABLE", "DIDFUSE_STANDARD", "REPORT_METRICS", "dataset_pairs", "fuse_to_folder", "run_evaluation"]

#: The six metrics of the letter's Table 1, in its order.
REPORT_METRICS = ("EN", "SD", "SF", "VIF", "MI", "MG")

#: NormFuse as reported in the letter (38 TNO / 37 RoadScene pairs; SF in an 8-bit convention).
LETTER_TABLE = {
    "tno": {"EN": 7.19, "SD": 53.65, "SF": 6.14, "VIF": 0.699, "MI": 2.346, "MG": 4.41},
    "roadscene": {"EN": 7.42, "SD": 54.32, "SF": 6.69, "VIF": 0.860, "MI": 2.947, "MG": 5.48},
}

#: DIDFuse's released images under this project's standard conventions (``tests/test_metrics.py`` checks them).
DIDFUSE_STANDARD = {
    "tno": {"EN": 7.006, "SD": 46.89, "SF": 11.28, "MG": 4.294, "MI": 2.347, "VIF": 0.623},
    "roadscene": {"EN": 7.344, "SD": 50.98, "SF": 14.27, "MG": 5.574, "MI": 2.882, "VIF": 0.538},
}

Method = Union[NormFuser, Callable[[np.ndarray, np.ndarray], np.ndarray]]


def dataset_pairs(name: str, root: str | os.PathLike | None = None) -> list[tuple[str, Path, Path]]:
    """``[(stem, ir_path, vis_path)]`` of a test set: ``"tno"`` (40 pairs) or ``"roadscene"`` (its 40 test pairs).

    ``root`` is the folder holding ``tno/`` and ``roadscene/``; ``None`` means
    ``$NORMFUSE_DATA`` (see :func:`normfuse.samples.data_root`).

    Raises:
        FileNotFoundError: no folder given, or it lacks the data set's files
            (the message says to pass ``--data DIR`` or set ``NORMFUSE_DATA``).
    """
    if name not in ("tno", "roadscene"):
        raise ValueError(f"unknown data set {name!r}; use 'tno' or 'roadscene'")
    base = data_root(root)
    folder = base / name
    needed = [folder / "ir", folder / "vis"] + ([folder / "split.json"] if name == "roadscene" else [])
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"{str(base)!r} holds no {name} data set (missing {', '.join(missing)}): "
            f"pass --data DIR (or set {DATA_ENV}) naming the folder that holds tno/ and roadscene/"
        )
    if name == "tno":
        names = sorted(p.name for p in (folder / "ir").iterdir() if not p.name.startswith("."))
    else:
        names = json.loads((folder / "split.json").read_text())["test"]
    return [(Path(n).stem, folder / "ir" / n, folder / "vis" / n) for n in names]


def fuse_to_folder(method: Method, pairs, out_dir: str | os.PathLike, progress: bool = True) -> Path:
    """Fuse every pair with ``method`` into ``out_dir/<stem>.png`` (8-bit; colour kept for NormFuser)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    it = pairs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(pairs, desc=f"fusing into {out}", leave=False)
    for stem, ir, vis in it:
        if isinstance(method, NormFuser):
            fused = method.fuse(read_image(ir), read_image(vis))
        else:
            fused = method(to_gray(read_image(ir)), to_gray(read_image(vis)))
            fused = np.rint(np.clip(fused, 0, 1) * 255).astype(np.uint8)
        atomic_write_image(out / f"{stem}.png", fused, overwrite=True)
    return out


def _figure(means: Mapping[str, Mapping[str, Mapping[str, float]]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    datasets = list(means)
    fig, axes = plt.subplots(len(datasets), len(REPORT_METRICS), figsize=(3 * len(REPORT_METRICS), 3 * len(datasets)),
                             squeeze=False)
    for r, ds in enumerate(datasets):
        methods = list(means[ds])
        for c, metric in enumerate(REPORT_METRICS):
            ax = axes[r][c]
            vals = [means[ds][m].get(metric, np.nan) for m in methods]
            ax.bar(range(len(methods)), vals, color=[f"C{i}" for i in range(len(methods))])
            ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{ds} {metric}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run_evaluation(
    methods: Mapping[str, Method | str | os.PathLike],
    datasets: tuple[str, ...] = ("tno", "roadscene"),
    out_dir: str | os.PathLike = "evaluation",
    root: str | os.PathLike | None = None,
    names: tuple[str, ...] | None = None,
    progress: bool = True,
) -> dict[str, dict[str, dict[str, float]]]:
    """Fuse (or take already fused folders), score and report; return ``means[dataset][method][metric]``.

    Args:
        methods: ``{name: NormFuser | baseline function | folder of fused images}``;
            a folder must hold ``<dataset>/<stem>.png`` or ``<stem>.png`` for each pair.
        datasets: subset of ``("tno", "roadscene")``.
        out_dir: where fused images and ``metrics.{csv,json,md}`` and ``metrics.png`` go.
        names: metrics (default: all eleven plus the paper variants ``SF_uint8`` and ``SD_colmean``).
    """
    from . import metrics

    all_pairs = {ds: dataset_pairs(ds, root) for ds in datasets}  # a missing data set fails before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = tuple(names or (*metrics.DEFAULT_METRICS, "SF_uint8", "SD_colmean"))
    means: dict[str, dict[str, dict[str, float]]] = {}
    per_image: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for ds in datasets:
        pairs = all_pairs[ds]
        means[ds], per_image[ds] = {}, {}
        for mname, method in methods.items():
            if isinstance(method, (str, os.PathLike)):
                folder = Path(method) / ds if (Path(method) / ds).is_dir() else Path(method)
            else:
                folder = fuse_to_folder(method, pairs, out / ds / mname, progress)
            rows = {}
            for stem, ir, vis in pairs:
                fused = next((p for p in folder.glob(f"{stem}.*")), None)
                if fused is None:
                    raise FileNotFoundError(f"method {mname!r}: no fused image for {stem!r} in {str(folder)!r}")
                rows[stem] = metrics.compute(fused, ir, vis, names)
            per_image[ds][mname] = rows
            means[ds][mname] = {k: float(np.mean([r[k] for r in rows.values()])) for k in names}
            metrics.write_csv(out / ds / f"{mname}_per_image.csv", rows, list(names))
    metrics.write_json(out / "metrics.json", {"mean": means, "per_image": per_image})
    lines = ["# Evaluation", ""]
    for ds in datasets:
        rows = dict(means[ds])
        rows["letter: NormFuse"] = LETTER_TABLE[ds]
        rows["DIDFuse (released images)"] = DIDFUSE_STANDARD[ds]
        metrics.write_csv(out / f"{ds}_mean.csv", means[ds], list(names), index_name="method")
        lines += [f"## {ds} ({len(all_pairs[ds])} pairs)", "",
                  metrics.markdown_table(rows, list(REPORT_METRICS) + [n for n in names if n not in REPORT_METRICS]),
                  ""]
    (out / "metrics.md").write_text("\n".join(lines))
    _figure(means, out / "metrics.png")
    return means


def resolve_method(spec: str, device: str = "auto", precision: str = "auto") -> tuple[str, Method | Path]:
    """``"bundled"``, ``"NAME=FOLDER_OR_REPO"``, a baseline name, or ``"NAME=fused:FOLDER"`` -> ``(name, method)``."""
    name, _, value = spec.partition("=")
    if not value:
        if spec in BASELINES:
            return spec, BASELINES[spec]
        if spec == "bundled":
            return "normfuse", NormFuser.from_pretrained(device=device, precision=precision)
        value, name = spec, Path(spec).name or spec
    if value.startswith("fused:"):
        return name, Path(value[len("fused:"):])
    return name, NormFuser.from_pretrained(value, device=device, precision=precision)
