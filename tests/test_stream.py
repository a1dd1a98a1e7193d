"""The streaming pipeline (normfuse.stream) and fuse_video on top of it, on real TNO frames.

The frames are crops of different real pairs, so every fused frame differs
from the others: a pipeline that reordered, dropped or repeated a frame would
not give the list of frames fused one by one.  The fuser sleeps a random time
per frame so that any reordering the threads allowed would show.
"""

from __future__ import annotations

import random
import threading
import time
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

from normfuse import NormFuser
from normfuse.stream import FrameSizeError, StreamStats, UnevenStreamsError, UnevenStreamsWarning, fuse_stream

N = 8


@pytest.fixture(scope="module")
def fuser(one_thread):
    return NormFuser.from_pretrained(device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def frames(data_dir):
    """N real pairs: IR (64, 80) uint8 and visible (64, 80) uint8, each from another TNO pair."""
    names = sorted(p.name for p in (data_dir / "tno" / "ir").iterdir())[:N]
    grey = lambda a: a if a.ndim == 2 else a[..., 0]  # noqa: E731
    ir = [np.ascontiguousarray(grey(iio.imread(data_dir / "tno" / "ir" / n))[60:124, 100:180]) for n in names]
    vis = [np.ascontiguousarray(grey(iio.imread(data_dir / "tno" / "vis" / n))[60:124, 100:180]) for n in names]
    return ir, vis


class JitteryFuser:
    """The real fuser, taking a random time per frame (so that threads could overtake each other)."""

    def __init__(self, fuser, seed=0):
        self.inner, self.rng = fuser, random.Random(seed)

    def fuse(self, ir, vis, **kw):
        time.sleep(self.rng.uniform(0, 0.02))
        return self.inner.fuse(ir, vis, **kw)


def _camera(frames, fps=200.0):
    """A live source: yields frames at a fixed rate (as a camera library's iterator does)."""
    for f in frames:
        time.sleep(1 / fps)
        yield f


def _no_pipeline_threads() -> bool:
    return not any(t.name.startswith("normfuse-") for t in threading.enumerate())


def test_stream_equals_fusing_frames_one_by_one(fuser, frames):
    ir, vis = frames
    expected = [fuser.fuse(a, b) for a, b in zip(ir, vis)]
    assert all(not np.array_equal(expected[i], expected[j]) for i in range(N) for j in range(i))  # all distinct
    assert all(np.abs(e.astype(int) - b.astype(int)).max() > 10 for e, b in zip(expected, vis))  # not a copy
    for ir_src, vis_src in ((ir, vis), (_camera(ir), _camera(vis))):  # two lists (files) and two live sources
        stats = StreamStats()
        got = list(fuse_stream(JitteryFuser(fuser), ir_src, vis_src, queue_size=2, stats=stats))
        assert len(got) == N and all(np.array_equal(g, e) for g, e in zip(got, expected))
        assert stats.frames == N and stats.fps > 0 and stats.uneven is None
    assert _no_pipeline_threads()


def test_uneven_streams_fuse_every_pair_then_warn_or_raise(fuser, frames):
    ir, vis = frames
    with pytest.warns(UnevenStreamsWarning, match="the vis stream ended after 3 frames but the ir stream had more"):
        got = list(fuse_stream(fuser, ir, vis[:3]))
    assert len(got) == 3 and np.array_equal(got[2], fuser.fuse(ir[2], vis[2]))
    got = []
    with pytest.raises(UnevenStreamsError, match="the ir stream ended after 2 frames"):
        for f in fuse_stream(fuser, iter(ir[:2]), _camera(vis), uneven="raise"):
            got.append(f)
    assert len(got) == 2  # every paired frame was delivered before the error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(fuse_stream(fuser, ir[:4], vis[:4]))) == 4  # even streams: nothing said
    assert _no_pipeline_threads()


def test_size_changes_and_errors_name_the_frame_and_stop_the_threads(fuser, frames):
    ir, vis = frames
    changed = ir[:2] + [ir[2][:, :70]] + ir[3:]
    with pytest.raises(FrameSizeError, match=r"ir frame 2 is 70x64 \(width x height\) but the ir stream started at 80x64"):
        list(fuse_stream(fuser, changed, vis))
    with pytest.raises(ValueError, match=r"frame 0: .*\(64, 80\).*\(64, 60\)|frame 0: .*80.*60"):
        list(fuse_stream(fuser, ir, [v[:, :60] for v in vis]))  # IR and visible sizes differ
    assert len(list(fuse_stream(fuser, ir[:2], [v[:, :60] for v in vis[:2]], resize="ir"))) == 2

    def broken():
        yield vis[0]
        raise OSError("camera unplugged")

    with pytest.raises(OSError, match="camera unplugged"):
        list(fuse_stream(fuser, ir, broken()))
    stream = fuse_stream(fuser, _camera(ir * 20), _camera(vis * 20))
    next(stream)
    stream.close()  # the caller stops early: the threads end
    assert _no_pipeline_threads()


def test_video_files_fuse_in_the_pipeline_and_say_when_one_is_shorter(fuser, frames, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    from normfuse.video import fuse_video

    ir, vis = frames
    for name, seq in (("ir.mp4", ir[:5]), ("vis.mp4", vis[:4])):
        w = imageio_ffmpeg.write_frames(str(tmp_path / name), (80, 64), pix_fmt_in="gray", fps=10,
                                        macro_block_size=1, ffmpeg_log_level="error")
        w.send(None)
        for f in seq:
            w.send(f)
        w.close()
    stats = StreamStats()
    with pytest.warns(UnevenStreamsWarning, match="the vis stream ended after 4 frames"):
        n = fuse_video(fuser, tmp_path / "ir.mp4", tmp_path / "vis.mp4", tmp_path / "out.mp4", progress=False,
                       stats=stats)
    assert n == 4 and stats.frames == 4 and stats.fps > 0
    gen = imageio_ffmpeg.read_frames(str(tmp_path / "out.mp4"))
    assert tuple(next(gen)["size"]) == (80, 64) and len(list(gen)) == 4
    assert _no_pipeline_threads()
