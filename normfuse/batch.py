"""Fusing many pairs: matching files, folders or globs, and writing results safely.

This is the library behind ``normfuse fuse``; it has no command-line parsing.

Guarantees of :func:`fuse_pairs`:

- an existing output is skipped unless ``overwrite=True``;
- an output path equal to an input path is refused before anything is done;
- every output is encoded in memory, written to a hidden temporary file in the
  output folder and renamed into place (:func:`atomic_write_image`), so an
  interrupted run leaves no half-written image and running it again finishes
  the job;
- an unreadable input, a file without a partner or any other per-pair error is
  reported by name in the :class:`Summary` and the other pairs go on.

Examples:
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from normfuse import NormFuser
    >>> from normfuse.samples import sample_pair_paths
    >>> d = Path(tempfile.mkdtemp())
    >>> for sub, src in zip(("ir", "vis"), sample_pair_paths()):
    ...     (d / sub).mkdir()
    ...     _ = shutil.copy(src, d / sub / "0001.png")
    >>> _ = shutil.copy(sample_pair_paths()[0], d / "ir" / "0002.png")   # no visible partner
    >>> pairs = match_pairs(d / "ir", d / "vis")
    >>> [p.name for p in pairs], [str(u) for u in pairs.unmatched]     # doctest: +ELLIPSIS
    (['0001'], ['.../ir/0002.png: no visible partner'])
    >>> fuser = NormFuser.from_pretrained(device="cpu", precision="fp32")
    >>> summary = fuse_pairs(fuser, pairs, d / "out", progress=False)
    >>> summary.line()
    'fused 1, skipped 0, failed 1'
    >>> fuse_pairs(fuser, pairs, d / "out", progress=False).line()     # nothing to do again
    'fused 0, skipped 1, failed 1'
    >>> shutil.rmtree(d)
"""

from __future__ import annotations

import glob
import os
import secrets
import struct
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .io import read_image

__all__ = [
    "IMAGE_SUFFIXES",
    "OUTPUT_FORMATS",
    "VIDEO_SUFFIXES",
    "Pair",
    "Unmatched",
    "Matching",
    "Summary",
    "VideoSupportMissing",
    "check_video_support",
    "match_pairs",
    "plan_outputs",
    "atomic_write_image",
    "encode_image",
    "fuse_arrays",
    "fuse_pairs",
    "is_video",
    "fuse_video",
]

#: File suffixes taken as images when a folder is listed.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm"})
#: Output formats and the suffix each writes.
OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "tif": ".tif", "tiff": ".tiff", "bmp": ".bmp"}
#: File suffixes taken as videos (``normfuse fuse a.mp4 b.mp4 -o out.mp4``).
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})

_TMP_TAG = ".normfuse-"  # temporary files: ".<output name>.normfuse-<pid>-<random>.part"
_TMP_END = ".part"
_GLOB_CHARS = "*?["

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------------------------- matching
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


def _is_glob(spec: str) -> bool:
    return any(c in spec for c in _GLOB_CHARS)


def _list_images(spec: PathLike) -> list[Path]:
    """Image files of a folder (not recursive, hidden files ignored) or of a glob pattern, sorted."""
    p = Path(spec)
    if p.is_dir():
        files = [f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")]
        files = [f for f in files if f.is_file()]
        if not files:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise FileNotFoundError(f"no image files in folder {str(p)!r} (looked for {kinds})")
    elif _is_glob(str(spec)):
        files = [Path(f) for f in glob.glob(str(spec), recursive=True)]
        files = [f for f in files if f.is_file() and not f.name.startswith(".")]
        if not files:
            raise FileNotFoundError(f"the pattern {str(spec)!r} matches no files")
    else:
        raise FileNotFoundError(f"{str(spec)!r} is not a file, a folder or a glob pattern")
    return sorted(files)


def _by_stem(files: list[Path]) -> tuple[dict[str, Path], list[Unmatched]]:
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

    Examples:
        >>> from normfuse.samples import sample_pair_paths
        >>> ir, vis = sample_pair_paths()
        >>> [(p.name, p.ir.name, p.vis.name) for p in match_pairs(ir, vis)]
        [('tno17_ir', 'tno17_ir.png', 'tno17_vis.png')]
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
    irs, ir_bad = _by_stem(_list_images(ir))
    viss, vis_bad = _by_stem(_list_images(vis))
    pairs = [Pair(s, irs[s], viss[s]) for s in sorted(irs.keys() & viss.keys())]
    unmatched = ir_bad + vis_bad
    unmatched += [Unmatched(irs[s], "no visible partner") for s in sorted(irs.keys() - viss.keys())]
    unmatched += [Unmatched(viss[s], "no infrared partner") for s in sorted(viss.keys() - irs.keys())]
    return Matching(pairs, unmatched)


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links
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
    inputs = {}
    for p in planned:
        for x in (p.ir, p.vis):
            inputs[x.resolve()] = x
    folders = {x.parent.resolve() for p in planned for x in (p.ir, p.vis)}
    if out_dir is not None and Path(out_dir).resolve() in folders:
        raise ValueError(f"the output folder {str(out_dir)!r} is an input folder; choose another output folder")
    seen: dict[Path, str] = {}
    for p in planned:
        out = p.output.resolve()
        if out in inputs or (p.output.exists() and any(_same_file(p.output, x) for x in (p.ir, p.vis))):
            raise ValueError(f"the output {str(p.output)!r} of {p.name!r} is an input file; refusing to overwrite it")
        if out in seen:
            raise ValueError(f"pairs {seen[out]!r} and {p.name!r} would both write {str(p.output)!r}")
        seen[out] = p.name
    return planned


# ---------------------------------------------------------------------------------------------- writing
def _png16(image: np.ndarray) -> bytes:
    """Encode a uint16 grey or RGB array as PNG (Pillow cannot write 16-bit RGB PNG)."""
    h, w = image.shape[:2]
    colour_type = 2 if image.ndim == 3 else 0
    rows = np.ascontiguousarray(image, dtype=">u2").reshape(h, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode ``(H, W)`` or ``(H, W, 3)`` uint8/uint16 as ``.png``, ``.tif``, ``.jpg`` (quality 95) or ``.bmp``.

    JPEG and BMP hold 8-bit images only.

    Examples:
        >>> encode_image(np.zeros((2, 3), np.uint8), ".png")[:4]
        b'\\x89PNG'
    """
    import imageio.v3 as iio

    suffix = suffix.lower()
    if suffix not in set(OUTPUT_FORMATS.values()) | {".jpeg"}:
        raise ValueError(f"cannot write {suffix!r} images; use .png, .jpg, .tif, .tiff or .bmp")
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        raise ValueError(f"expected a (H, W) or (H, W, 3) uint8/uint16 image, got {image.dtype} {image.shape}")
    if suffix in (".jpg", ".jpeg"):
        if image.dtype != np.uint8:
            raise ValueError("JPEG holds 8-bit images only; write PNG or TIFF for 16 bits")
        return iio.imwrite("<bytes>", image, extension=".jpg", quality=95)
    if suffix == ".bmp" and image.dtype != np.uint8:
        raise ValueError("BMP holds 8-bit images only; write PNG or TIFF for 16 bits")
    if suffix == ".png" and image.dtype == np.uint16 and image.ndim == 3:
        return _png16(image)
    return iio.imwrite("<bytes>", image, extension=suffix)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move a finished temporary file into place (the caller removes ``tmp`` if it is still there)."""
    exists = f"{str(path)!r} exists; pass overwrite=True (--overwrite) to replace it"
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # atomic, and never replaces a file that appeared meanwhile
        except FileExistsError:
            raise FileExistsError(exists) from None
        except OSError:  # no hard links on this file system (some network and FAT ones)
            if path.exists():
                raise FileExistsError(exists) from None
            os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_image(path: PathLike, image: np.ndarray, overwrite: bool = False) -> Path:
    """Write an image so that ``path`` is either absent/unchanged or the complete new file.

    The image is encoded in memory (format from the suffix of ``path``: see
    :func:`encode_image`), written and fsynced to a hidden temporary file
    ``.<name>.normfuse-<pid>-<random>.part`` in the same folder, then moved into
    place: with ``os.replace`` when ``overwrite`` is true, else with a hard link
    that fails if ``path`` appeared meanwhile (falling back to an existence check
    on file systems without hard links). The folder is created if needed.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: unsupported suffix or array.
        OSError: the file cannot be written (the temporary file is removed).

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> atomic_write_image(d / "a.png", np.zeros((4, 4), np.uint8)).name
        'a.png'
        >>> atomic_write_image(d / "a.png", np.ones((4, 4), np.uint8))
        Traceback (most recent call last):
        ...
        FileExistsError: ...a.png' exists; pass overwrite=True (--overwrite) to replace it
        >>> sorted(f.name for f in d.iterdir())          # no temporary file left behind
        ['a.png']
    """
    path = Path(path)
    data = encode_image(image, path.suffix)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}{_TMP_END}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        _commit(tmp, path, overwrite)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_stale_temporaries(outputs: Iterable[Path]) -> int:
    """Delete temporary files of these outputs left by runs that were killed (their process is gone)."""
    wanted: dict[Path, set[str]] = {}
    for out in outputs:
        wanted.setdefault(out.parent, set()).add(out.name)
    removed = 0
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            n = e.name
            if not (n.startswith(".") and n.endswith(_TMP_END) and _TMP_TAG in n):
                continue
            target, _, rest = n[1:-len(_TMP_END)].rpartition(_TMP_TAG)
            pid = rest.split("-", 1)[0]
            if target in names and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                try:
                    os.unlink(e.path)
                    removed += 1
                except OSError:
                    pass
    return removed


# ---------------------------------------------------------------------------------------------- fusing
@dataclass
class Summary:
    """What a batch run did (or, with ``dry_run``, would do).

    Attributes:
        fused: pairs written (or to be written in a dry run).
        skipped: pairs whose output existed.
        failed: ``(name, reason)`` of pairs that failed and of unmatched files.
        seconds: wall time of the run.
        dry_run: nothing was read or written.
    """

    fused: list[Pair] = field(default_factory=list)
    skipped: list[Pair] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every pair was fused or skipped, else 1."""
        return 0 if self.ok else 1

    def line(self) -> str:
        """``"fused N, skipped N, failed N"``; in a dry run ``"dry run: would fuse N, skip N, fail N"``."""
        n = (len(self.fused), len(self.skipped), len(self.failed))
        if self.dry_run:
            return "dry run: would fuse {}, skip {}, fail {} (nothing written)".format(*n)
        return "fused {}, skipped {}, failed {}".format(*n)


def _fuse_call(fuser: Any) -> Callable[..., Any]:
    return getattr(fuser, "fuse", fuser)


def _to_depth(img: np.ndarray, bits: int) -> np.ndarray:
    """Convert a fused array (uint8, uint16 or float in [0, 1]) to uint8 or uint16."""
    dtype = np.uint16 if bits == 16 else np.uint8
    if img.dtype == dtype:
        return img
    if img.dtype == np.uint8:  # 8 -> 16 bits: 255 -> 65535
        return img.astype(np.uint16) * np.uint16(257)
    if img.dtype == np.uint16:
        return np.rint(img / 257.0).astype(np.uint8)
    return np.rint(np.clip(img.astype(np.float64), 0, 1) * np.iinfo(dtype).max).astype(dtype)


def fuse_arrays(
    fuser: Any,
    ir: np.ndarray,
    vis: np.ndarray,
    *,
    bit_depth: Literal[8, 16] = 8,
    resize: Literal["ir", "vis"] | None = None,
    thermal_range: str = "dtype",
) -> np.ndarray:
    """Fuse two read images and return uint8, or uint16 if ``bit_depth=16`` and an input is 16-bit.

    With ``bit_depth=16``, an 8-bit visible image paired with a 16-bit thermal
    image is passed to the fuser as float so that the result keeps 16 bits.

    Examples:
        >>> fuse_arrays(lambda a, b, **kw: b, np.zeros((2, 2), np.uint16), np.full((2, 2), 255, np.uint8),
        ...             bit_depth=16)
        array([[65535, 65535],
               [65535, 65535]], dtype=uint16)
    """
    deep = bit_depth == 16 and (ir.dtype == np.uint16 or vis.dtype == np.uint16)
    if deep and vis.dtype != np.uint16:
        vis = vis.astype(np.float32) / np.float32(np.iinfo(vis.dtype).max if vis.dtype.kind in "ui" else 1.0)
    fused = np.asarray(_fuse_call(fuser)(ir, vis, resize=resize, thermal_range=thermal_range))
    return _to_depth(fused, 16 if deep else 8)


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (OSError, ValueError, TypeError)) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def fuse_pairs(
    fuser: Any,
    pairs: Iterable[Pair],
    out_dir: PathLike | None = None,
    *,
    fmt: str = "png",
    bit_depth: Literal[8, 16] = 8,
    resize: Literal["ir", "vis"] | None = None,
    thermal_range: str = "dtype",
    overwrite: bool = False,
    dry_run: bool = False,
    workers: int = 2,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> Summary:
    """Fuse every pair and write ``out_dir/<name>.<fmt>`` (or each pair's own ``output``).

    Reading and writing run in a pool of ``workers`` threads (``0``: all in the
    calling thread) a few pairs ahead, with bounded memory; the model runs in
    the calling thread, one pair at a time.

    Args:
        fuser: a :class:`~normfuse.NormFuser`, or any callable
            ``(ir, vis, resize=, thermal_range=) -> array``; unused in a dry run (may be ``None``).
        pairs: from :func:`match_pairs`; its ``unmatched`` files are counted as failed.
        out_dir: output folder for pairs without an ``output`` (created when needed).
        fmt: ``"png"`` (default), ``"jpg"``, ``"tif"``, ``"tiff"`` or ``"bmp"`` (8-bit only, as TNO's files).
        bit_depth: ``16`` writes 16-bit PNG/TIFF for pairs with a 16-bit input; otherwise 8-bit.
        resize, thermal_range: passed to :meth:`~normfuse.NormFuser.fuse`.
        overwrite: replace existing outputs (default: skip them).
        dry_run: only list what would be done: nothing is read or written.
        workers: reading/writing threads.
        progress: show a tqdm bar (pairs/s and ETA) on stderr.
        report: called with one line per failed, skipped-because-unmatched or
            (in a dry run) planned pair, e.g. ``print``.

    Returns:
        A :class:`Summary`; ``summary.exit_code`` is 1 if anything failed.

    Raises:
        ValueError: bad options, or an output would overwrite an input
            (checked before any work, see :func:`plan_outputs`).
    """
    t0 = time.perf_counter()
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    planned = plan_outputs(pairs, out_dir, fmt)
    if bit_depth == 16:
        for p in planned:
            if p.output.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
                kind = "BMP" if p.output.suffix.lower() == ".bmp" else "JPEG"
                raise ValueError(f"16-bit output needs PNG or TIFF, but {str(p.output)!r} is {kind}")
    say = report or (lambda _msg: None)
    summary = Summary(dry_run=dry_run)
    for u in getattr(pairs, "unmatched", ()):
        summary.failed.append((str(u.path), u.reason))
        say(f"unmatched: {u}")
    todo = []
    for p in planned:
        if p.output.exists() and not overwrite:
            summary.skipped.append(p)
            if dry_run:
                say(f"skip (exists): {p.output}")
        else:
            todo.append(p)
            if dry_run:
                say(f"{'replace' if p.output.exists() else 'fuse'}: {p.ir} + {p.vis} -> {p.output}")
    if dry_run:
        summary.fused = todo
        summary.seconds = time.perf_counter() - t0
        return summary
    if todo and fuser is None:
        raise ValueError("fuser is None; it may only be None in a dry run")
    _remove_stale_temporaries(p.output for p in planned)

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="pair", desc="fusing", file=sys.stderr, dynamic_ncols=True)

    def settle(pair: Pair, exc: BaseException | None) -> None:
        if exc is None:
            summary.fused.append(pair)
        else:
            summary.failed.append((pair.name, _reason(exc)))
            say(f"failed: {pair.name}: {_reason(exc)}")
        if bar is not None:
            bar.update(1)

    def read(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        return read_image(pair.ir), read_image(pair.vis)

    def write(pair: Pair, image: np.ndarray) -> Path:
        return atomic_write_image(pair.output, image, overwrite=overwrite)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="normfuse-io") if workers > 0 else None

    def submit(fn: Callable[..., Any], *args: Any) -> Future:
        if pool is not None:
            return pool.submit(fn, *args)
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - reported per pair
            fut.set_exception(exc)
        return fut

    def collect(wait_for_oldest: bool) -> None:
        """Account for finished writes, in order; optionally wait for the oldest one."""
        while writes and (wait_for_oldest or writes[0][1].done()):
            pair, fut = writes.popleft()
            wait_for_oldest = False
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - one bad pair must not stop the run
                settle(pair, exc)
            else:
                settle(pair, None)

    ahead = max(2, 2 * workers)  # pairs read ahead and writes in flight: bounded memory
    reads: deque[tuple[Pair, Future]] = deque()
    writes: deque[tuple[Pair, Future]] = deque()
    queue = iter(todo)
    try:
        while True:
            while len(reads) < ahead and (nxt := next(queue, None)) is not None:
                reads.append((nxt, submit(read, nxt)))
            if not reads:
                break
            pair, fut = reads.popleft()
            try:
                ir, vis = fut.result()
                fused = fuse_arrays(fuser, ir, vis, bit_depth=bit_depth, resize=resize, thermal_range=thermal_range)
            except Exception as exc:  # noqa: BLE001 - one bad pair must not stop the run
                settle(pair, exc)
            else:
                writes.append((pair, submit(write, pair, fused)))
            collect(wait_for_oldest=len(writes) > ahead)
        while writes:
            collect(wait_for_oldest=True)
    finally:
        if pool is not None:  # on an interrupt: drop queued work, let running writes finish (they are atomic)
            pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary


# ---------------------------------------------------------------------------------------------- video
class VideoSupportMissing(ImportError):
    """imageio-ffmpeg is not installed: ``pip install 'normfuse[video]'``."""


def is_video(path: PathLike) -> bool:
    """True when the file name has a video suffix (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``).

    Examples:
        >>> is_video("clip.MP4"), is_video("frame.png")
        (True, False)
    """
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def check_video_support() -> None:
    """Raise :class:`VideoSupportMissing` (``pip install 'normfuse[video]'``) unless imageio-ffmpeg is installed."""
    _imageio_ffmpeg()


def _imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise VideoSupportMissing(
            "fusing videos needs imageio-ffmpeg, which is not installed: pip install 'normfuse[video]'"
        ) from exc
    return imageio_ffmpeg


_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}


def fuse_video(
    fuser: Any,
    ir: PathLike,
    vis: PathLike,
    output: PathLike,
    *,
    resize: Literal["ir", "vis"] | None = None,
    thermal_range: str = "dtype",
    overwrite: bool = False,
    progress: bool = True,
    quality: float = 8,
) -> int | None:
    """Fuse an infrared and a visible video frame by frame; return the number of frames (``None`` if skipped).

    Frames are paired in order and the shorter video ends the output; the
    output has the visible video's frame rate and is encoded with ffmpeg
    (H.264 for ``.mp4``/``.mov``/``.mkv``, VP9 for ``.webm``) through imageio-ffmpeg.
    The infrared video is decoded as grey. The output is written to a hidden
    temporary file and renamed into place at the end; an existing output is
    skipped unless ``overwrite``.

    Raises:
        VideoSupportMissing: imageio-ffmpeg is not installed (``pip install 'normfuse[video]'``).
        ValueError: an output equal to an input, or an unknown container suffix.
        normfuse.io.ImageReadError: a video cannot be decoded.
    """
    from .io import ImageReadError

    ff = _imageio_ffmpeg()
    ir, vis, out = Path(ir), Path(vis), Path(output)
    for p in (ir, vis):
        if not p.is_file():
            raise ImageReadError(f"video file not found: {str(p)!r}")
        if out.resolve() == p.resolve() or (out.exists() and _same_file(out, p)):
            raise ValueError(f"the output {str(out)!r} is an input file; refusing to overwrite it")
    container = _CONTAINERS.get(out.suffix.lower())
    if container is None:
        raise ValueError(f"cannot write video {str(out)!r}; use one of {', '.join(sorted(_CONTAINERS))}")
    if out.exists() and not overwrite:
        return None

    def open_video(path: Path, pix_fmt: str):
        try:
            gen = ff.read_frames(str(path), pix_fmt=pix_fmt, bits_per_pixel=8 if pix_fmt == "gray" else 24)
            meta = next(gen)
        except Exception as exc:  # noqa: BLE001 - ffmpeg raises many types
            raise ImageReadError(f"cannot read {str(path)!r} as a video: {_reason(exc)}") from exc
        return meta, gen

    def frames(gen, meta, channels: int):
        w, h = meta["size"]
        for buf in gen:
            a = np.frombuffer(buf, np.uint8)
            yield a.reshape(h, w) if channels == 1 else a.reshape(h, w, 3)

    ir_meta, ir_gen = open_video(ir, "gray")
    try:
        vis_meta, vis_gen = open_video(vis, "rgb24")
    except BaseException:
        ir_gen.close()
        raise
    ir_frames, vis_frames = frames(ir_gen, ir_meta, 1), frames(vis_gen, vis_meta, 3)
    fps = float(vis_meta.get("fps") or 25.0)
    n_est = None
    try:
        n_est = int(round(min(ir_meta["duration"] * ir_meta["fps"], vis_meta["duration"] * fps)))
    except (KeyError, TypeError, ValueError, OverflowError):
        pass
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}{_TMP_END}")
    codec = "libvpx-vp9" if container == "webm" else ("mpeg4" if container == "avi" else "libx264")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_est, unit="frame", desc="fusing video", file=sys.stderr, dynamic_ncols=True)
    count = 0
    writer = None
    try:
        for a, b in zip(ir_frames, vis_frames):
            fused = _to_depth(np.asarray(_fuse_call(fuser)(a, b, resize=resize, thermal_range=thermal_range)), 8)
            if fused.ndim == 2:
                fused = np.repeat(fused[..., None], 3, axis=2)
            if writer is None:
                writer = ff.write_frames(str(tmp), (fused.shape[1], fused.shape[0]), fps=fps, codec=codec,
                                         quality=quality, macro_block_size=2, ffmpeg_log_level="error",
                                         output_params=["-f", container])
                writer.send(None)
            writer.send(np.ascontiguousarray(fused))
            count += 1
            if bar is not None:
                bar.update(1)
        if writer is None:
            raise ImageReadError(f"no frames could be read from {str(ir)!r} and {str(vis)!r}")
        writer.close()
        writer = None
        _commit(tmp, out, overwrite)
    finally:
        ir_gen.close()  # stops the ffmpeg readers, also when one video is longer
        vis_gen.close()
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
        if tmp.exists():
            tmp.unlink()
    return count
