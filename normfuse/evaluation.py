"""Evaluating fusion methods on the TNO and RoadScene test pairs, and the letter's comparison.

A *method* is a :class:`~normfuse.fuser.NormFuser` or a baseline function
(:data:`normfuse.baselines.BASELINES`). :func:`run_evaluation` fuses every pair
of the chosen data sets with every method into ``<out>/<dataset>/<method>/``,
computes the metrics per image and on average, and writes CSV, JSON, a
Markdown table (next to the letter's numbers) and, when matplotlib is
installed, the letter's bar figure and a contact sheet (without matplotlib it
warns and says so in ``metrics.md``).

Examples:
    >>> pairs = dataset_pairs("tno")          # doctest: +SKIP
    >>> len(pairs), pairs[0][0]               # doctest: +SKIP
    (40, '01')
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .baselines import BASELINES
from .devices import Precision
from .fuser import NormFuser
from .io import atomic_write_image, read_image, to_gray
from .models import DEFAULT_MODEL
from .pairing import match_pairs, split_pairs
from .samples import DATA_ENV, data_root

__all__ = ["LETTER_TABLE", "DIDFUSE_STANDARD", "LLVIP_REFERENCE", "EXTERNAL", "REFERENCE_PROVENANCE", "provenance",
           "DATASETS", "REPORT_METRICS", "ROBUSTNESS", "FIDELITY", "dataset_pairs", "fuse_to_folder", "reference_rows",
           "run_evaluation"]

#: The six metrics of the letter's Table 1, in its order.
REPORT_METRICS = ("EN", "SD", "SF", "VIF", "MI", "MG")

#: NormFuse as reported in the letter (38 TNO / 37 RoadScene pairs; SF in an 8-bit convention).
LETTER_TABLE = {
    "tno": {"EN": 7.19, "SD": 53.65, "SF": 6.14, "VIF": 0.699, "MI": 2.346, "MG": 4.41},
    "roadscene": {"EN": 7.42, "SD": 54.32, "SF": 6.69, "VIF": 0.860, "MI": 2.947, "MG": 5.48},
}

#: DIDFuse's released images under this project's standard conventions, computed by this project: EN, MG, MI and
#: VIF equal DIDFuse's published table; SD and SF are checked in ``tests/test_metrics.py`` against the definitions
#: written out in the test (population SD; SF over the pixel differences), not against a published value.
DIDFUSE_STANDARD = {
    "tno": {"EN": 7.006, "SD": 46.89, "SF": 11.28, "MG": 4.294, "MI": 2.347, "VIF": 0.623},
    "roadscene": {"EN": 7.344, "SD": 50.98, "SF": 14.27, "MG": 5.574, "MI": 2.882, "VIF": 0.538},
}

#: Marks a row whose numbers no command of this project reproduces (see :data:`REFERENCE_PROVENANCE`).
EXTERNAL = "[external]"

#: Other methods on the 12 LLVIP test pairs: EXTERNAL REFERENCE VALUES.  Fused outside this repository with each
#: method's released weights and scored with this project's metrics (standard conventions); the fused images are
#: not shipped and no command here makes them, so they cannot be re-checked from the repository.  A target that
#: compares against them (``docs/results.md``) rests on these values.
LLVIP_REFERENCE = {
    f"DIDFuse (released weights) {EXTERNAL}": {"EN": 6.105, "SD": 48.28, "SF": 9.561, "MG": 2.122, "MI": 2.894,
                                               "VIF": 0.492},
    f"SeAFusion (released weights) {EXTERNAL}": {"EN": 7.451, "SD": 50.71, "SF": 11.43, "MG": 2.959, "MI": 4.058,
                                                 "VIF": 0.580},
    f"IFCNN-MAX (released weights) {EXTERNAL}": {"EN": 6.961, "SD": 41.41, "SF": 13.01, "MG": 3.552, "MI": 2.458,
                                                 "VIF": 0.576},
}

#: Where each reference row of the reports comes from; written under each table of ``metrics.md``.
REFERENCE_PROVENANCE = {
    "letter: NormFuse": "published: the NormFuse letter's Table 1 (38 TNO / 37 RoadScene pairs, SF in an 8-bit "
    "convention); not recomputed",
    "DIDFuse (released images)": "DIDFuse's released fused images (the shared calibration/didfuse folder) scored by "
    "this project: `normfuse evaluate --fused`; EN, MG, MI and VIF equal DIDFuse's published table",
    EXTERNAL: "external reference values: fused outside this repository with the method's released weights and "
    "scored with this project's metrics; the fused images are not shipped and no command here makes them",
}


def provenance(row: str) -> str:
    """Where the numbers of a reference row come from (:data:`REFERENCE_PROVENANCE`).

    Examples:
        >>> provenance("SeAFusion (released weights) [external]").startswith("external reference values")
        True
    """
    return REFERENCE_PROVENANCE[EXTERNAL if row.endswith(EXTERNAL) else row]


#: The test sets :func:`dataset_pairs` knows.
DATASETS = ("tno", "roadscene", "llvip")

#: Robustness metrics every normfuse-convention evaluation adds, reported per set as the worst pair.
ROBUSTNESS = {"CRUSH": max, "IRshare": min}

#: Fidelity metrics (:mod:`normfuse.metrics.fidelity`) every normfuse-convention evaluation adds, reported per set
#: as the mean and the worst pair (pairs where one is undefined, NaN, are left out).
FIDELITY = {"HIGHLIGHT": max, "HPAMP": max, "FLATAMP": max, "HALO": max}


def _worst(how: Callable[..., float], values: list[float]) -> float:
    """``how`` (``max`` or ``min``) of the defined values, NaN when none is."""
    return float(how((v for v in values if v == v), default=float("nan")))


def reference_rows(dataset: str) -> dict[str, dict[str, float]]:
    """Published or externally measured means shown next to the computed ones."""
    if dataset == "llvip":
        return dict(LLVIP_REFERENCE)
    return {"letter: NormFuse": LETTER_TABLE[dataset], "DIDFuse (released images)": DIDFUSE_STANDARD[dataset]}

Method = NormFuser | Callable[[np.ndarray, np.ndarray], np.ndarray]


def dataset_pairs(name: str, root: str | os.PathLike | None = None) -> list[tuple[str, Path, Path]]:
    """``[(stem, ir_path, vis_path)]`` of a test set: ``"tno"`` (40 pairs), ``"roadscene"`` or ``"llvip"``
    (the ``test`` lists of their ``split.json``: 40 and 12 pairs).

    ``root`` is the folder holding ``tno/`` and ``roadscene/``; ``None`` means
    ``$NORMFUSE_DATA`` (see :func:`normfuse.samples.data_root`).

    Raises:
        FileNotFoundError: no folder given, or it lacks the data set's files
            (the message says to pass ``--data DIR`` or set ``NORMFUSE_DATA``).
        ValueError: an unknown data set, or a TNO image without its partner.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; use one of {DATASETS}")
    base = data_root(root)
    folder = base / name
    needed = [folder / "ir", folder / "vis"] + ([folder / "split.json"] if name != "tno" else [])
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"{str(base)!r} holds no {name} data set (missing {', '.join(missing)}): "
            f"pass --data DIR (or set {DATA_ENV}) naming the folder that holds {', '.join(DATASETS)}"
        )
    if name != "tno":
        return [(p.name, p.ir, p.vis) for p in split_pairs(folder, folder / "split.json", "test")]
    pairs = match_pairs(folder / "ir", folder / "vis").complete(f"the {name} data set in {str(folder)!r}")
    return [(p.name, p.ir, p.vis) for p in pairs]


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
            fused = np.asarray(method.fuse(read_image(ir), read_image(vis)))
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
    convention: str = "normfuse",
) -> dict[str, dict[str, dict[str, float]]]:
    """Fuse (or take already fused folders), score and report; return ``means[dataset][method][metric]``.

    Args:
        methods: ``{name: NormFuser | baseline function | folder of fused images}``;
            a folder must hold ``<dataset>/<stem>.png`` or ``<stem>.png`` for each pair.
        datasets: subset of :data:`DATASETS`.
        out_dir: where fused images, ``metrics.{csv,json,md}``, ``metrics.png`` and
            ``contact_sheet.png`` (one dark, one day and one low-contrast pair per set) go;
            without matplotlib the two PNGs are not written, with a warning and a line in ``metrics.md``.
        names: metrics (default: all eleven plus the paper variants ``SF_uint8`` and ``SD_colmean``;
            under another ``convention``, all the metrics that convention defines).
        convention: metric convention passed to :func:`normfuse.metrics.compute` (default ``"normfuse"``).
    """
    from . import metrics

    all_pairs = {ds: dataset_pairs(ds, root) for ds in datasets}  # a missing data set fails before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if convention == "normfuse":
        names = tuple(names or (*metrics.DEFAULT_METRICS, "SF_uint8", "SD_colmean"))
        names += tuple(k for k in (*ROBUSTNESS, *FIDELITY) if k not in names)
    else:
        names = tuple(metrics.get_convention(convention).resolve(names))
    means: dict[str, dict[str, dict[str, float]]] = {}
    per_image: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    folders: dict[str, dict[str, Path]] = {}
    for ds in datasets:
        pairs = all_pairs[ds]
        means[ds], per_image[ds], folders[ds] = {}, {}, {}
        for mname, method in methods.items():
            if isinstance(method, (str, os.PathLike)):
                folder = Path(method) / ds if (Path(method) / ds).is_dir() else Path(method)
            else:
                folder = fuse_to_folder(method, pairs, out / ds / mname, progress)
            folders[ds][mname] = folder
            rows = {}
            for stem, ir, vis in pairs:
                fused = next((p for p in folder.glob(f"{stem}.*")), None)
                if fused is None:
                    raise FileNotFoundError(f"method {mname!r}: no fused image for {stem!r} in {str(folder)!r}")
                rows[stem] = metrics.compute(fused, ir, vis, names, convention=convention)
            per_image[ds][mname] = rows
            means[ds][mname] = {k: float(np.nanmean([r[k] for r in rows.values()])) for k in names}
            means[ds][mname].update({f"{k} ({how.__name__})": _worst(how, [r[k] for r in rows.values()])
                                     for k, how in {**ROBUSTNESS, **FIDELITY}.items() if k in names})
            (out / ds).mkdir(parents=True, exist_ok=True)  # also when every method is a folder of fused images
            metrics.write_csv(out / ds / f"{mname}_per_image.csv", rows, list(names))
    metrics.write_json(out / "metrics.json", {"mean": means, "per_image": per_image})
    lines = ["# Evaluation", ""]
    for ds in datasets:
        rows = {**means[ds], **reference_rows(ds)}
        columns = list(means[ds][next(iter(means[ds]))]) if means[ds] else list(names)
        metrics.write_csv(out / f"{ds}_mean.csv", means[ds], columns, index_name="method")
        order = [n for n in REPORT_METRICS if n in columns] + [n for n in columns if n not in REPORT_METRICS]
        lines += [f"## {ds} ({len(all_pairs[ds])} pairs)", "", metrics.markdown_table(rows, order), ""]
        lines += [f"- {name}: {provenance(name)}" for name in reference_rows(ds)] + [""]
    from .contact_sheet import contact_sheet

    made = {"metrics.png": _figure(means, out / "metrics.png"),
            "contact_sheet.png": contact_sheet(all_pairs, folders, out / "contact_sheet.png")}
    skipped = [name for name, path in made.items() if path is None]
    if skipped:  # said in a warning and in metrics.md (which `normfuse evaluate` prints)
        note = f"matplotlib is not installed: {' and '.join(skipped)} not written (pip install 'normfuse[plot]')"
        warnings.warn(note, stacklevel=2)
        lines += [note, ""]
    (out / "metrics.md").write_text("\n".join(lines))
    return means


def resolve_method(spec: str, device: str = "auto", precision: Precision = "auto") -> tuple[str, Method | Path]:
    """``(name, method)`` of a method spec.

    ``"bundled"`` (the default model, named after it), a shipped model name
    (:func:`normfuse.list_models`), a baseline name, ``"NAME=FOLDER_OR_REPO"``
    or ``"NAME=fused:FOLDER"`` (already fused images).
    """
    name, _, value = spec.partition("=")
    if not value:
        if spec in BASELINES:
            return spec, BASELINES[spec]
        if spec == "bundled":
            return DEFAULT_MODEL, NormFuser.from_pretrained(device=device, precision=precision)
        value, name = spec, Path(spec).name or spec
    if value.startswith("fused:"):
        return name, Path(value[len("fused:"):])
    return name, NormFuser.from_pretrained(value, device=device, precision=precision)
