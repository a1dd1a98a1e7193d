"""Pairing infrared and visible files, and planning where results go: the one rule for all of normfuse.

Folders and glob patterns are listed with :func:`list_images` (image suffixes of
:data:`normfuse.io.IMAGE_SUFFIXES`, hidden files ignored, not recursive) and
files are matched by stem with :func:`by_stem`: ``ir/0001.png`` goes with
``vis/0001.jpg``. ``normfuse fuse`` (:func:`match_pairs`), the metrics
(:func:`normfuse.metrics.match_folders`), training
(:func:`normfuse.train.data.list_pairs`) and the evaluation
(:func:`normfuse.evaluation.dataset_pairs`) all use these functions.

Examples:
    >>> from normfuse.samples import sample_pair_paths
    >>> ir, vis = sample_pair_paths()
    >>> [(p.name, p.ir.name, p.vis.name) for p in match_pairs(ir, vis)]
    [('tno17_ir', 'tno17_ir.png', 'tno17_vis.png')]
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .io import IMAGE_SUFFIXES

__all__ = [
    "OUTPUT_FORMATS",
    "Pair",
    "Unmatched",
    "Matching",
    "list_images",
    "by_stem",
    "match_pairs",
    "split_pairs",
    "same_file",
    "plan_outputs",
]

#: Output formats and the suffix each writes.
OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "tif": ".tif", "tiff": ".tiff", "bmp": ".bmp"}

_GLOB_CHARS = "*?["

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Pair:
    """One job: fuse ``ir`` with ``vis``.

    Attributes:
        name: the file stem both inputs have (``"0001"`` for ``ir/0001.png`` + ``vis/0001.jpg``).
        ir, vis: the input files.
        output: where to write the result; ``None`` means ``<out_dir>/<name>.<format>``
            (see :func:`plan_outputs`).
    """

    name: str
    ir: Path
    vis: Path
    output: Path | None = None


@dataclass(frozen=True)
class Unmatched:
    """A file that was not paired, and why (``"no visible partner"``, ``"stem used twice: ..."``)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Matching(list):
    """The result of :func:`match_pairs`: a list of :class:`Pair`, plus :attr:`unmatched` files.

    Examples:
        >>> m = Matching([Pair("a", Path("ir/a.png"), Path("vis/a.png"))],
        ...              [Unmatched(Path("ir/b.png"), "no visible partner")])
        >>> len(m), m[0].name, [str(u) for u in m.unmatched]
        (1, 'a', ['ir/b.png: no visible partner'])
    """

    def __init__(self, pairs: Iterable[Pair] = (), unmatched: Iterable[Unmatched] = ()):
        super().__init__(pairs)
        self.unmatched: list[Unmatched] = list(unmatched)

    def __repr__(self) -> str:
        return f"Matching({list.__repr__(self)}, unmatched={self.unmatched!r})"

    def complete(self, where: str) -> list[Pair]:
        """The pairs, when every file has its partner (a data set, not a batch run that skips).

        Raises:
            ValueError: some files are unmatched; the message names ``where`` and up to five of them.
        """
        if self.unmatched:
            lonely = [str(u) for u in self.unmatched]
            raise ValueError(f"{where}: {len(lonely)} images have no partner in the other folder, e.g. {lonely[:5]}")
        return list(self)


def _is_glob(spec: str) -> bool:
    return any(c in spec for c in _GLOB_CHARS)


def _visible_file(f: Path) -> bool:
    return not f.name.startswith(".") and f.is_file()


def list_images(spec: PathLike, allow_empty: bool = False) -> list[Path]:
    """Image files of a folder (by suffix, not recursive) or all files of a glob pattern, sorted; hidden ones ignored.

    Raises:
        FileNotFoundError: ``spec`` is neither a folder nor a glob pattern, or
            (unless ``allow_empty``) the folder holds no images or the pattern matches no files.

    Examples:
        >>> from normfuse.samples import sample_pair_paths
        >>> [f.name for f in list_images(sample_pair_paths()[0].parent)]
        ['tno17_ir.png', 'tno17_vis.png']
    """
    p = Path(spec)
    if p.is_dir():
        files = [f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and _visible_file(f)]
        if not files and not allow_empty:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise FileNotFoundError(f"no image files in folder {str(p)!r} (looked for {kinds})")
    elif _is_glob(str(spec)):
        files = [f for f in map(Path, glob.glob(str(spec), recursive=True)) if _visible_file(f)]
        if not files and not allow_empty:
            raise FileNotFoundError(f"the pattern {str(spec)!r} matches no files")
    else:
        raise FileNotFoundError(f"{str(spec)!r} is not a file, a folder or a glob pattern")
    return sorted(files)


def by_stem(files: Iterable[Path]) -> tuple[dict[str, Path], list[Unmatched]]:
    """``({stem: file}, clashes)``: files indexed by stem; files sharing a stem are left out and listed as clashes.

    Examples:
        >>> unique, clashes = by_stem([Path("a.png"), Path("b.png"), Path("b.jpg")])
        >>> sorted(unique), [c.path.name for c in clashes]
        (['a'], ['b.png', 'b.jpg'])
        >>> clashes[0].reason
        "stem 'b' used by 2 files (b.png, b.jpg); rename one"
    """
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(f.stem, []).append(f)
    unique = {s: fs[0] for s, fs in groups.items() if len(fs) == 1}
    clashes = [
        Unmatched(f, f"stem {s!r} used by {len(fs)} files ({', '.join(x.name for x in fs)}); rename one")
        for s, fs in groups.items() if len(fs) > 1 for f in fs
    ]
    return unique, clashes


def match_pairs(ir: PathLike, vis: PathLike) -> Matching:
    """Pair infrared and visible inputs: two files, two folders or two glob patterns.

    Folders and globs are matched by file stem: ``ir/0001.png`` goes with
    ``vis/0001.jpg``. Folders are not searched recursively; hidden files are
    ignored; a glob may use ``**`` (quote it on the command line). Files without
    a partner, and files whose stem is used twice on one side, are listed in
    :attr:`Matching.unmatched` instead of stopping the run.

    Returns:
        A :class:`Matching` (a list of :class:`Pair` sorted by name, with ``.unmatched``).

    Raises:
        FileNotFoundError: an input does not exist, a folder holds no images or a glob matches nothing.
        ValueError: a file is mixed with a folder or glob.
    """
    ir_p, vis_p = Path(ir), Path(vis)
    if ir_p.is_file() or vis_p.is_file():
        if not (ir_p.is_file() and vis_p.is_file()):
            file, other = (ir_p, vis_p) if ir_p.is_file() else (vis_p, ir_p)
            kind = "a folder" if other.is_dir() else "a pattern" if _is_glob(str(other)) else "missing"
            raise ValueError(
                f"{str(file)!r} is a file but {str(other)!r} is {kind}; give two files, two folders or two globs"
            )
        return Matching([Pair(ir_p.stem, ir_p, vis_p)])
    irs, ir_bad = by_stem(list_images(ir))
    viss, vis_bad = by_stem(list_images(vis))
    pairs = [Pair(s, irs[s], viss[s]) for s in sorted(irs.keys() & viss.keys())]
    unmatched = ir_bad + vis_bad
    unmatched += [Unmatched(irs[s], "no visible partner") for s in sorted(irs.keys() - viss.keys())]
    unmatched += [Unmatched(viss[s], "no infrared partner") for s in sorted(viss.keys() - irs.keys())]
    return Matching(pairs, unmatched)


def split_pairs(root: PathLike, split: PathLike, subset: str) -> list[Pair]:
    """The pairs ``root/ir/NAME`` + ``root/vis/NAME`` of the ``subset`` list of a JSON split file.

    Raises:
        FileNotFoundError: a listed name has no file in ``root/ir`` or ``root/vis``.
        ValueError: the split file has no ``subset`` list.
    """
    root = Path(root)
    data = json.loads(Path(split).read_text())
    if subset not in data:
        raise ValueError(f"split file {str(split)!r} has no {subset!r} list (keys: {sorted(data)})")
    pairs = [Pair(Path(n).stem, root / "ir" / n, root / "vis" / n) for n in data[subset]]
    for p in pairs:
        for f in (p.ir, p.vis):
            if not f.is_file():
                raise FileNotFoundError(f"split names {f.name!r} but {str(f)!r} does not exist")
    return pairs


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (same resolved path, or hard links of one file)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def plan_outputs(pairs: Iterable[Pair], out_dir: PathLike | None = None, fmt: str = "png") -> list[Pair]:
    """Give every pair its output path (``out_dir/<name>.<fmt>`` unless it has one) and check them.

    Raises:
        ValueError: an unknown format, a pair without output and no ``out_dir``,
            an output equal to an input (of any pair) or to an input folder, or
            two pairs writing the same output.

    Examples:
        >>> p = Pair("01", Path("ir/01.bmp"), Path("vis/01.bmp"))
        >>> [str(q.output) for q in plan_outputs([p], "out", "tif")]
        ['out/01.tif']
        >>> plan_outputs([p], "ir", "gif")
        Traceback (most recent call last):
        ...
        ValueError: unknown output format 'gif'; choose one of bmp, jpeg, jpg, png, tif, tiff
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(sorted(OUTPUT_FORMATS))}")
    planned = []
    for p in pairs:
        if p.output is None:
            if out_dir is None:
                raise ValueError(f"pair {p.name!r} has no output path and no output folder was given")
            p = Pair(p.name, p.ir, p.vis, Path(out_dir) / f"{p.name}{OUTPUT_FORMATS[fmt]}")
        planned.append(p)
    inputs = {x.resolve() for p in planned for x in (p.ir, p.vis)}
    folders = {x.parent.resolve() for p in planned for x in (p.ir, p.vis)}
    if out_dir is not None and Path(out_dir).resolve() in folders:
        raise ValueError(f"the output folder {str(out_dir)!r} is an input folder; choose another output folder")
    seen: dict[Path, str] = {}
    for p in planned:
        assert p.output is not None
        out = p.output.resolve()
        if out in inputs or (p.output.exists() and any(same_file(p.output, x) for x in (p.ir, p.vis))):
            raise ValueError(f"the output {str(p.output)!r} of {p.name!r} is an input file; refusing to overwrite it")
        if out in seen:
            raise ValueError(f"pairs {seen[out]!r} and {p.name!r} would both write {str(p.output)!r}")
        seen[out] = p.name
    return planned
