"""Fusing many planned pairs: reading ahead and writing behind in threads, the model in the calling thread.

Guarantees of :func:`fuse_pairs`:

- an existing output is skipped unless ``overwrite=True``;
- an output path equal to an input path is refused before anything is done;
- every output is written with :func:`normfuse.io.atomic_write_image`, so an
  interrupted run leaves no half-written image and running it again finishes
  the job;
- an unreadable input, a file without a partner or any other per-pair error is
  reported by name in the :class:`Summary` and the other pairs go on.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .atomic import remove_stale_temporaries
from .io import atomic_write_image, read_image
from .pairing import Pair, PathLike, plan_outputs

__all__ = ["Summary", "Pipeline", "counts_line", "fuse_arrays", "fuse_pairs", "to_bit_depth", "describe_failure"]


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
        return counts_line(len(self.fused), len(self.skipped), len(self.failed), self.dry_run)


def counts_line(fused: int, skipped: int, failed: int, dry_run: bool = False) -> str:
    """The line that sums a run up, from its counts (see :meth:`Summary.line`).

    Examples:
        >>> counts_line(3, 1, 0), counts_line(3, 1, 0, dry_run=True)
        ('fused 3, skipped 1, failed 0', 'dry run: would fuse 3, skip 1, fail 0 (nothing written)')
    """
    if dry_run:
        return f"dry run: would fuse {fused}, skip {skipped}, fail {failed} (nothing written)"
    return f"fused {fused}, skipped {skipped}, failed {failed}"


def fuse_call(fuser: Any) -> Callable[..., Any]:
    """The fusing function of a :class:`~normfuse.NormFuser` (its ``fuse``) or of a plain callable (itself)."""
    return getattr(fuser, "fuse", fuser)


def to_bit_depth(img: np.ndarray, bits: int) -> np.ndarray:
    """Convert a fused array (uint8, uint16 or float in [0, 1]) to uint8 (``bits=8``) or uint16 (``bits=16``).

    Examples:
        >>> to_bit_depth(np.array([0, 255], np.uint8), 16), to_bit_depth(np.array([0.5]), 8)
        (array([    0, 65535], dtype=uint16), array([128], dtype=uint8))
    """
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
    thermal_range: str = "auto",
    alignment: Any = None,
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
    extra = {} if alignment is None else {"alignment": alignment}  # plain callables need not know alignment
    fused = np.asarray(fuse_call(fuser)(ir, vis, resize=resize, thermal_range=thermal_range, **extra))
    return to_bit_depth(fused, 16 if deep else 8)


def describe_failure(exc: BaseException) -> str:
    """One line saying why a pair failed: the message of I/O and value errors, else ``Type: message``."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (OSError, ValueError, TypeError)) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


class _Tally:
    """Records each pair's outcome in the :class:`Summary`, the report and the progress bar."""

    def __init__(self, summary: Summary, report: Callable[[str], None], total: int, progress: bool):
        self.summary, self.report, self.bar = summary, report, None
        if progress and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="pair", desc="fusing", file=sys.stderr, dynamic_ncols=True)

    def record(self, pair: Pair, exc: BaseException | None) -> None:
        if exc is None:
            self.summary.fused.append(pair)
        else:
            self.summary.failed.append((pair.name, describe_failure(exc)))
            self.report(f"failed: {pair.name}: {describe_failure(exc)}")
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Pipeline:
    """Read pairs, fuse them and write the results, reporting each pair's outcome to ``record(pair, exc)``.

    With ``workers > 0``, reading and writing run in a pool of that many threads
    a few pairs ahead (bounded memory) while ``fuse`` runs in the calling thread,
    one pair at a time; with ``workers == 0`` everything runs in the calling
    thread, pair after pair. Every pair's outcome is recorded once: written
    pairs in their order, a pair that fails to be read or fused as soon as it
    fails. An exception of one pair (``Exception``, not an interrupt) is
    recorded and the run goes on.
    """

    def __init__(
        self,
        read: Callable[[Pair], tuple[np.ndarray, np.ndarray]],
        fuse: Callable[[np.ndarray, np.ndarray], np.ndarray],
        write: Callable[[Pair, np.ndarray], object],
        record: Callable[[Pair, BaseException | None], None],
        workers: int = 2,
    ):
        self.read, self.fuse, self.write, self.record, self.workers = read, fuse, write, record, workers

    def run(self, pairs: Iterable[Pair]) -> None:
        if self.workers <= 0:
            for pair in pairs:
                self._one_pair_inline(pair)
            return
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="normfuse-io")
        try:
            self._run_in_pool(pool, iter(pairs))
        finally:  # on an interrupt: drop queued work, let running writes finish (they are atomic)
            pool.shutdown(wait=True, cancel_futures=True)

    def _one_pair_inline(self, pair: Pair) -> None:
        try:
            self.write(pair, self.fuse(*self.read(pair)))
        except Exception as exc:  # noqa: BLE001 - one bad pair must not stop the run
            self.record(pair, exc)
        else:
            self.record(pair, None)

    def _run_in_pool(self, pool: ThreadPoolExecutor, queue: Iterable[Pair]) -> None:
        ahead = max(2, 2 * self.workers)  # pairs read ahead and writes in flight: bounded memory
        reads: deque[tuple[Pair, Future]] = deque()
        writes: deque[tuple[Pair, Future]] = deque()
        queue = iter(queue)
        while True:
            while len(reads) < ahead and (nxt := next(queue, None)) is not None:
                reads.append((nxt, pool.submit(self.read, nxt)))
            if not reads:
                break
            pair, pending = reads.popleft()
            try:
                fused = self.fuse(*pending.result())
            except Exception as exc:  # noqa: BLE001 - one bad pair must not stop the run
                self.record(pair, exc)
            else:
                writes.append((pair, pool.submit(self.write, pair, fused)))
            self._collect(writes, wait_for_oldest=len(writes) > ahead)
        while writes:
            self._collect(writes, wait_for_oldest=True)

    def _collect(self, writes: deque[tuple[Pair, Future]], wait_for_oldest: bool) -> None:
        """Record finished writes, in order; optionally wait for the oldest one."""
        while writes and (wait_for_oldest or writes[0][1].done()):
            pair, pending = writes.popleft()
            wait_for_oldest = False
            try:
                pending.result()
            except Exception as exc:  # noqa: BLE001 - one bad pair must not stop the run
                self.record(pair, exc)
            else:
                self.record(pair, None)


def _check_16_bit_formats(planned: Sequence[Pair]) -> None:
    for p in planned:
        suffix = p.output.suffix.lower() if p.output is not None else ""
        if suffix in (".jpg", ".jpeg", ".bmp"):
            kind = "BMP" if suffix == ".bmp" else "JPEG"
            raise ValueError(f"16-bit output needs PNG or TIFF, but {str(p.output)!r} is {kind}")


def _sort_out(
    pairs: Iterable[Pair], planned: Sequence[Pair], summary: Summary, overwrite: bool, say: Callable[[str], None]
) -> list[Pair]:
    """Count unmatched files as failed and existing outputs as skipped; return the pairs to fuse."""
    for u in getattr(pairs, "unmatched", ()):
        summary.failed.append((str(u.path), u.reason))
        say(f"unmatched: {u}")
    todo = []
    for p in planned:
        assert p.output is not None
        if p.output.exists() and not overwrite:
            summary.skipped.append(p)
            if summary.dry_run:
                say(f"skip (exists): {p.output}")
        else:
            todo.append(p)
            if summary.dry_run:
                say(f"{'replace' if p.output.exists() else 'fuse'}: {p.ir} + {p.vis} -> {p.output}")
    return todo


def fuse_pairs(
    fuser: Any,
    pairs: Iterable[Pair],
    out_dir: PathLike | None = None,
    *,
    fmt: str = "png",
    bit_depth: Literal[8, 16] = 8,
    resize: Literal["ir", "vis"] | None = None,
    thermal_range: str = "auto",
    overwrite: bool = False,
    dry_run: bool = False,
    workers: int = 2,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
    alignment: Any = None,
) -> Summary:
    """Fuse every pair and write ``out_dir/<name>.<fmt>`` (or each pair's own ``output``).

    Reading and writing run in a pool of ``workers`` threads (``0``: all in the
    calling thread) a few pairs ahead, with bounded memory; the model runs in
    the calling thread, one pair at a time (see :class:`Pipeline`).

    Args:
        fuser: a :class:`~normfuse.NormFuser`, or any callable
            ``(ir, vis, resize=, thermal_range=) -> array``; unused in a dry run (may be ``None``).
        pairs: from :func:`~normfuse.pairing.match_pairs`; its ``unmatched`` files are counted as failed.
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
        alignment: passed to :meth:`~normfuse.NormFuser.fuse` for every pair: an
            :class:`~normfuse.registration.Alignment` (a rig) or ``"auto"``.

    Returns:
        A :class:`Summary`; ``summary.exit_code`` is 1 if anything failed.

    Raises:
        ValueError: bad options, or an output would overwrite an input
            (checked before any work, see :func:`~normfuse.pairing.plan_outputs`).
    """
    started = time.perf_counter()
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    planned = plan_outputs(pairs, out_dir, fmt)
    if bit_depth == 16:
        _check_16_bit_formats(planned)
    report_line = report or (lambda _line: None)
    summary = Summary(dry_run=dry_run)
    todo = _sort_out(pairs, planned, summary, overwrite, report_line)
    if dry_run:
        summary.fused = todo
        summary.seconds = time.perf_counter() - started
        return summary
    if todo and fuser is None:
        raise ValueError("fuser is None; it may only be None in a dry run")
    remove_stale_temporaries(p.output for p in planned if p.output is not None)
    tally = _Tally(summary, report_line, len(todo), progress)
    pipeline = Pipeline(
        read=lambda pair: (read_image(pair.ir), read_image(pair.vis)),
        fuse=lambda ir, vis: fuse_arrays(fuser, ir, vis, bit_depth=bit_depth, resize=resize,
                                         thermal_range=thermal_range, alignment=alignment),
        write=lambda pair, image: atomic_write_image(_output(pair), image, overwrite=overwrite),
        record=tally.record,
        workers=workers,
    )
    try:
        pipeline.run(todo)
    finally:
        tally.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _output(pair: Pair) -> Path:
    if pair.output is None:
        raise ValueError(f"pair {pair.name!r} has no output path")
    return pair.output
