"""Fusing many pairs: matching files, folders or globs, and writing results safely.

This is the library behind ``normfuse fuse``; it has no command-line parsing.
It gathers, under one name, the parts that live in their own modules:
:mod:`normfuse.pairing` (matching inputs, planning outputs),
:mod:`normfuse.io` (encoding and writing), :mod:`normfuse.atomic` (atomic
renames, stale temporary files), :mod:`normfuse.runner`
(the pipelined run) and :mod:`normfuse.video`.

The guarantees of :func:`fuse_pairs` (skip existing outputs, never overwrite
an input, atomic writes, per-pair failures reported by name) are listed in
:mod:`normfuse.runner`.

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

from .io import IMAGE_SUFFIXES, atomic_write_image, encode_image
from .pairing import OUTPUT_FORMATS, Matching, Pair, Unmatched, match_pairs, plan_outputs
from .runner import Summary, fuse_arrays, fuse_pairs
from .video import VIDEO_SUFFIXES, VideoSupportMissing, check_video_support, fuse_video, is_video

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
