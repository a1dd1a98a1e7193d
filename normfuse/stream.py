"""Fusing two streams of frames with reading, fusing and writing overlapped (threads and bounded queues).

:func:`fuse_stream` takes two iterables of frames (decoded video files, or
live sources such as a camera library's frame iterator) and yields the fused
frames in their order.  A reader thread pulls frame pairs, a fusing thread
runs the fuser, and the caller consumes (writes, shows) the results, so the
three overlap.  The queues between them are bounded (``queue_size``): when
fusing is slower than the sources, the reader waits, so no frame is ever
dropped and memory stays bounded; a live source that cannot wait will buffer
or drop frames itself, which :attr:`StreamStats.fps` lets you see.

What happens when the streams disagree:

- one source ends before the other: the paired frames are all fused, then an
  :class:`UnevenStreamsWarning` says which source ended first and after how many
  frames (``uneven="raise"``: an :class:`UnevenStreamsError` after the last
  fused frame instead);
- a frame's size differs from the first frame of its source: :class:`FrameSizeError`
  (a ``ValueError``) naming the source, the frame index and both sizes;
- infrared and visible sizes differ: the fuser's ``ValueError`` (pass
  ``resize="ir"`` or ``"vis"``), with the frame index;
- any error in a source or in fusing stops the pipeline and is raised in the
  caller with the frame index; the threads are joined when the caller's loop
  ends or stops early (a live source blocked inside ``next()`` is waited for
  up to 5 s, then left to finish that call in its daemon thread).

Examples:
    >>> import numpy as np
    >>> frames = [np.full((8, 8), v, np.uint8) for v in (10, 20, 30)]
    >>> average = lambda a, b: ((a.astype(int) + b) // 2).astype(np.uint8)
    >>> stats = StreamStats()
    >>> [int(f[0, 0]) for f in fuse_stream(average, frames, frames, stats=stats)], stats.frames
    ([10, 20, 30], 3)
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["fuse_stream", "StreamStats", "UnevenStreamsWarning", "UnevenStreamsError", "FrameSizeError"]


class UnevenStreamsWarning(UserWarning):
    """One source ended before the other: the frames of the longer one after that were not fused."""


class UnevenStreamsError(ValueError):
    """One source ended before the other (``uneven="raise"``)."""


class FrameSizeError(ValueError):
    """A frame's size differs from the first frame of the same source."""


@dataclass
class StreamStats:
    """What a :func:`fuse_stream` run did: frames fused, seconds from the first read to the last frame yielded."""

    frames: int = 0
    seconds: float = 0.0
    uneven: str | None = field(default=None)

    @property
    def fps(self) -> float:
        """Fused frames per second, end to end (0 before the first frame)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


_END = object()  # end of stream marker in the queues


class _Failure:
    """An exception raised in a worker thread, carried to the caller."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless the pipeline is stopping; return False if it stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _size_of(frame: Any) -> tuple[int, ...]:
    shape = tuple(np.shape(frame))
    return shape[-3:-1] if len(shape) >= 3 and shape[-1] in (3, 4) else shape[-2:]


class _Reader:
    """Pulls frame pairs from the two sources into ``out``; notes which source ended first."""

    def __init__(self, ir: Iterable[Any], vis: Iterable[Any], out: queue.Queue, stop: threading.Event):
        self.ir, self.vis, self.out, self.stop = iter(ir), iter(vis), out, stop
        self.sizes: dict[str, tuple[int, ...]] = {}
        self.uneven: str | None = None

    def _check_size(self, name: str, i: int, frame: Any) -> None:
        size = _size_of(frame)
        first = self.sizes.setdefault(name, size)
        if size != first:
            raise FrameSizeError(f"{name} frame {i} is {size[-1]}x{size[-2]} (width x height) but the {name} "
                                 f"stream started at {first[-1]}x{first[-2]}; frames of a stream must keep one size")

    def run(self) -> None:
        i = 0
        try:
            while not self.stop.is_set():
                a = next(self.ir, _END)
                b = next(self.vis, _END)
                if a is _END or b is _END:
                    if a is not b:
                        ended, other = ("ir", "vis") if a is _END else ("vis", "ir")
                        self.uneven = (f"the {ended} stream ended after {i} frames but the {other} stream had more: "
                                       f"its frames from {i} on were not fused")
                    break
                self._check_size("ir", i, a)
                self._check_size("vis", i, b)
                if not _put(self.out, (i, a, b), self.stop):
                    return
                i += 1
        except BaseException as exc:  # noqa: BLE001 - carried to the caller and raised there
            _put(self.out, _Failure(exc), self.stop)
            return
        _put(self.out, _END, self.stop)


def _fuse_worker(fuse: Callable[..., Any], kwargs: dict[str, Any], inp: queue.Queue, out: queue.Queue,
                 stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            item = inp.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is _END or isinstance(item, _Failure):
            _put(out, item, stop)
            return
        i, a, b = item
        try:
            fused = fuse(a, b, **kwargs)
        except Exception as exc:  # noqa: BLE001 - carried to the caller with the frame index
            msg = f"frame {i}: {exc}"
            try:
                carried: BaseException = type(exc)(msg)
            except Exception:  # noqa: BLE001 - an exception type that takes other arguments
                carried = RuntimeError(msg)
            carried.__cause__ = exc
            _put(out, _Failure(carried), stop)
            return
        if not _put(out, (i, fused), stop):
            return


def fuse_stream(
    fuser: Any,
    ir_frames: Iterable[Any],
    vis_frames: Iterable[Any],
    *,
    queue_size: int = 4,
    uneven: Literal["warn", "raise"] = "warn",
    stats: StreamStats | None = None,
    **fuse_kwargs: Any,
) -> Generator[Any, None, None]:
    """Yield ``fuser.fuse(ir, vis, **fuse_kwargs)`` for each pair of frames, in order, reading ahead in threads.

    Args:
        fuser: a :class:`~normfuse.NormFuser` (its ``fuse``) or any callable ``(ir, vis, **kw) -> frame``.
        ir_frames: infrared frames: anything ``fuse`` accepts, e.g. uint8 ``(H, W)`` arrays.
        vis_frames: visible frames, e.g. uint8 ``(H, W, 3)`` RGB arrays.
        queue_size: frames read ahead and fused frames waiting for the caller (each queue), at least 1.
        uneven: ``"warn"`` (default) or ``"raise"`` when one source ends before the other (see the module).
        stats: filled in as frames are yielded (frames, seconds, :attr:`~StreamStats.fps`).
        **fuse_kwargs: passed to ``fuse`` (``resize``, ``thermal_range``...).

    Yields:
        The fused frames in the sources' order (one per pair; none dropped).

    Raises:
        FrameSizeError: a frame's size changed within a source.
        UnevenStreamsError: with ``uneven="raise"``, one source ended first (after the last fused frame).
        ValueError, TypeError: from ``fuse`` (e.g. IR and visible sizes differ), prefixed with the frame index.
    """
    if queue_size < 1:
        raise ValueError(f"queue_size must be at least 1, got {queue_size}")
    if uneven not in ("warn", "raise"):
        raise ValueError(f"uneven must be 'warn' or 'raise', got {uneven!r}")
    fuse = getattr(fuser, "fuse", fuser)
    stats = stats if stats is not None else StreamStats()
    stop = threading.Event()
    pairs: queue.Queue = queue.Queue(queue_size)
    fused: queue.Queue = queue.Queue(queue_size)
    reader = _Reader(ir_frames, vis_frames, pairs, stop)
    threads = [threading.Thread(target=reader.run, name="normfuse-read", daemon=True),
               threading.Thread(target=_fuse_worker, args=(fuse, fuse_kwargs, pairs, fused, stop),
                                name="normfuse-fuse", daemon=True)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    try:
        while True:
            item = fused.get()
            if item is _END:
                break
            if isinstance(item, _Failure):
                raise item.exc
            i, frame = item
            if i != stats.frames:  # pragma: no cover - one fusing thread keeps the order
                raise RuntimeError(f"frame {i} arrived when frame {stats.frames} was expected")
            yield frame
            stats.frames += 1
            stats.seconds = time.perf_counter() - start
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
    stats.uneven = reader.uneven
    if reader.uneven is not None:
        if uneven == "raise":
            raise UnevenStreamsError(reader.uneven)
        warnings.warn(reader.uneven, UnevenStreamsWarning, stacklevel=2)
