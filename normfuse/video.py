"""Fusing an infrared and a visible video frame by frame (needs ``pip install 'normfuse[video]'``).

Examples:
    >>> is_video("clip.MP4"), is_video("frame.png")
    (True, False)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .atomic import move_into_place, temporary_path
from .io import ImageReadError
from .pairing import PathLike, same_file
from .runner import describe_failure, to_bit_depth
from .stream import StreamStats, fuse_stream

__all__ = ["VIDEO_SUFFIXES", "VideoSupportMissing", "is_video", "check_video_support", "fuse_video"]

#: x264 settings of the output: the ``veryfast`` preset encoded a 640 x 480 frame in a third of the time of
#: x264's default (``medium``), at the same quality setting, leaving the cores to fusing (docs/performance.md).
X264_FAST = ("-preset", "veryfast")

#: File suffixes taken as videos (``normfuse fuse a.mp4 b.mp4 -o out.mp4``), and the ffmpeg container each writes.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
VIDEO_SUFFIXES = frozenset(CONTAINERS)
#: Frame rate of the output when the visible video's metadata has none (with a warning).
DEFAULT_FPS = 25.0


class VideoSupportMissing(ImportError):
    """imageio-ffmpeg is not installed: ``pip install 'normfuse[video]'``."""


def is_video(path: PathLike) -> bool:
    """True when the file name has a video suffix (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def check_video_support() -> None:
    """Raise :class:`VideoSupportMissing` (``pip install 'normfuse[video]'``) unless imageio-ffmpeg is installed."""
    _imageio_ffmpeg()


def _imageio_ffmpeg() -> Any:
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise VideoSupportMissing(
            "fusing videos needs imageio-ffmpeg, which is not installed: pip install 'normfuse[video]'"
        ) from exc
    return imageio_ffmpeg


class _VideoReader:
    """Decoded 8-bit frames of one video: ``(H, W)`` grey or ``(H, W, 3)`` RGB, and its metadata."""

    def __init__(self, ffmpeg: Any, path: Path, grey: bool):
        pix_fmt = "gray" if grey else "rgb24"
        try:
            self._gen = ffmpeg.read_frames(str(path), pix_fmt=pix_fmt, bits_per_pixel=8 if grey else 24)
            self.meta = next(self._gen)
        except Exception as exc:  # ffmpeg raises many types
            raise ImageReadError(f"cannot read {str(path)!r} as a video: {describe_failure(exc)}") from exc
        self.grey = grey

    def frames(self) -> Iterator[np.ndarray]:
        w, h = self.meta["size"]
        for buf in self._gen:
            a = np.frombuffer(buf, np.uint8)
            yield a.reshape(h, w) if self.grey else a.reshape(h, w, 3)

    def close(self) -> None:
        self._gen.close()  # stops the ffmpeg reader, also when the other video is longer


def _frame_count(ir: _VideoReader, vis: _VideoReader, fps: float) -> int | None:
    try:
        return int(round(min(ir.meta["duration"] * ir.meta["fps"], vis.meta["duration"] * fps)))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _frame_rate(video: _VideoReader, path: Path, out: Path) -> float:
    """The video's frame rate; :data:`DEFAULT_FPS` with a warning when its metadata has none."""
    fps = float(video.meta.get("fps") or 0)
    if not fps > 0:  # said, not silent: the output's duration depends on it
        fps = DEFAULT_FPS
        warnings.warn(f"{str(path)!r} has no frame rate in its metadata; writing {str(out)!r} at {fps:g} fps",
                      stacklevel=3)
    return fps


def _check_paths(ir: Path, vis: Path, out: Path) -> str:
    """Check the inputs and the output; return the ffmpeg container of the output."""
    for p in (ir, vis):
        if not p.is_file():
            raise ImageReadError(f"video file not found: {str(p)!r}")
        if out.resolve() == p.resolve() or (out.exists() and same_file(out, p)):
            raise ValueError(f"the output {str(out)!r} is an input file; refusing to overwrite it")
    container = CONTAINERS.get(out.suffix.lower())
    if container is None:
        raise ValueError(f"cannot write video {str(out)!r}; use one of {', '.join(sorted(CONTAINERS))}")
    return container


def fuse_video(
    fuser: Any,
    ir: PathLike,
    vis: PathLike,
    output: PathLike,
    *,
    resize: Literal["ir", "vis"] | None = None,
    thermal_range: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
    quality: float = 8,
    stats: StreamStats | None = None,
) -> int | None:
    """Fuse an infrared and a visible video frame by frame; return the number of frames (``None`` if skipped).

    Frames are paired in order; reading, fusing and writing run in parallel
    (:func:`normfuse.stream.fuse_stream`); ``stats`` gets the frame count and
    the end-to-end frames per second.  The shorter video ends the output, with
    an :class:`~normfuse.stream.UnevenStreamsWarning` saying which; the
    output has the visible video's frame rate (25 fps, with a warning, when
    its metadata has none) and is encoded with ffmpeg
    (H.264 for ``.mp4``/``.mov``/``.mkv`` with x264's ``veryfast`` preset, :data:`X264_FAST`; VP9 for
    ``.webm``) through imageio-ffmpeg.
    The infrared video is decoded as grey. The output is written to a hidden
    temporary file and renamed into place at the end; an existing output is
    skipped unless ``overwrite``.

    Raises:
        VideoSupportMissing: imageio-ffmpeg is not installed (``pip install 'normfuse[video]'``).
        ValueError: an output equal to an input, or an unknown container suffix.
        normfuse.io.ImageReadError: a video cannot be decoded.
    """
    ffmpeg = _imageio_ffmpeg()
    ir, vis, out = Path(ir), Path(vis), Path(output)
    container = _check_paths(ir, vis, out)
    if out.exists() and not overwrite:
        return None
    ir_video = _VideoReader(ffmpeg, ir, grey=True)
    try:
        vis_video = _VideoReader(ffmpeg, vis, grey=False)
    except BaseException:
        ir_video.close()
        raise
    fps = _frame_rate(vis_video, vis, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(out)
    codec = "libvpx-vp9" if container == "webm" else ("mpeg4" if container == "avi" else "libx264")
    speed = list(X264_FAST) if codec == "libx264" else []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=_frame_count(ir_video, vis_video, fps), unit="frame", desc="fusing video", file=sys.stderr,
                   dynamic_ncols=True)
    count = 0
    writer = None
    # reading, fusing and writing overlap (normfuse.stream); a video that ends first is warned about
    frames = fuse_stream(fuser, ir_video.frames(), vis_video.frames(), stats=stats, resize=resize,
                         thermal_range=thermal_range)
    try:
        for fused in frames:
            fused = to_bit_depth(np.asarray(fused), 8)
            if fused.ndim == 2:
                fused = np.repeat(fused[..., None], 3, axis=2)
            if writer is None:
                writer = ffmpeg.write_frames(str(tmp), (fused.shape[1], fused.shape[0]), fps=fps, codec=codec,
                                             quality=quality, macro_block_size=2, ffmpeg_log_level="error",
                                             output_params=["-f", container, *speed])
                writer.send(None)
            writer.send(np.ascontiguousarray(fused))
            count += 1
            if bar is not None:
                bar.update(1)
        if writer is None:
            raise ImageReadError(f"no frames could be read from {str(ir)!r} and {str(vis)!r}")
        writer.close()
        writer = None
        move_into_place(tmp, out, overwrite)
    finally:
        frames.close()  # joins the reading and fusing threads before the readers are closed
        ir_video.close()
        vis_video.close()
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
        if tmp.exists():
            tmp.unlink()
    return count
