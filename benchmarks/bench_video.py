"""End-to-end video fusion speed: a 640 x 480 clip made from real pairs, decoded, fused and encoded.

The clip: each LLVIP test pair (1280 x 1024, aligned night scenes), scaled to
800 x 640, gives 25 frames of a 640 x 480 window panning across it, so 12
pairs make 300 frames (IR as grey H.264, visible as colour H.264, 25 fps),
written to a temporary folder.  ``normfuse.video.fuse_video`` then decodes
both, fuses every frame (``normfuse.stream``: reading, fusing and writing
overlap) and encodes the result; the time includes all of it, and the first
call's conversion and compilation of the OpenVINO backend (shown apart too).

    python benchmarks/bench_video.py                              # backend auto, the default model
    python benchmarks/bench_video.py --backends auto torch --frames 100
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import data_root


def make_clip(folder: Path, frames: int, fps: float = 25.0) -> tuple[Path, Path]:
    """Write ``ir.mp4`` (grey) and ``vis.mp4`` (RGB), 640 x 480, ``frames`` frames panned over LLVIP test pairs."""
    import imageio_ffmpeg
    from skimage.transform import resize

    from normfuse.evaluation import dataset_pairs
    from normfuse.io import read_image

    pairs = dataset_pairs("llvip", data_root())
    per_pair = 25
    writers = {}
    for name, grey in (("ir", True), ("vis", False)):
        w = imageio_ffmpeg.write_frames(str(folder / f"{name}.mp4"), (640, 480), pix_fmt_in="gray" if grey else "rgb24",
                                        fps=fps, codec="libx264", quality=8, macro_block_size=16,
                                        ffmpeg_log_level="error")
        w.send(None)
        writers[name] = w
    n = 0
    for k in range((frames + per_pair - 1) // per_pair):
        _, ir_path, vis_path = pairs[k % len(pairs)]
        ir = (resize(read_image(ir_path), (640, 800), anti_aliasing=True) * 255).round().astype(np.uint8)
        vis = (resize(read_image(vis_path), (640, 800), anti_aliasing=True) * 255).round().astype(np.uint8)
        ir = ir if ir.ndim == 2 else ir[..., 0]
        for j in range(min(per_pair, frames - n)):
            x, y = round(160 * j / (per_pair - 1)), round(160 * j / (per_pair - 1))
            writers["ir"].send(np.ascontiguousarray(ir[y:y + 480, x:x + 640]))
            writers["vis"].send(np.ascontiguousarray(vis[y:y + 480, x:x + 640]))
            n += 1
    for w in writers.values():
        w.close()
    return folder / "ir.mp4", folder / "vis.mp4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model name, folder or hub repo id (default: the default model)")
    ap.add_argument("--backends", nargs="+", default=["auto"], choices=["auto", "torch", "openvino"])
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from bench_runtime import cpu_name

    torch.set_num_threads(args.threads)
    from normfuse import NormFuser
    from normfuse.models import DEFAULT_MODEL
    from normfuse.stream import StreamStats
    from normfuse.video import fuse_video

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ir, vis = make_clip(Path(tmp), args.frames)
        made = time.perf_counter() - t
        print(f"CPU: {cpu_name()}, {args.threads} threads; model: {args.model or DEFAULT_MODEL}; "
              f"clip: {args.frames} frames 640x480 from LLVIP test pairs (made in {made:.0f} s)")
        print()
        print("| backend | runs as | frames | seconds (decode + fuse + encode) | fps end to end "
              "| first call (conversion + compile) s | fps after the first frame |")
        print("|---|---|---|---|---|---|---|")
        for backend in args.backends:
            fuser = NormFuser.from_pretrained(args.model, device="cpu", precision=args.precision, backend=backend)
            stats = StreamStats()
            first = [0.0]
            inner = fuser.fuse

            def timed_fuse(a, b, _inner=inner, stats=stats, first=first, **kw):
                if stats.frames == 0 and first[0] == 0.0:
                    t0 = time.perf_counter()
                    out = _inner(a, b, **kw)
                    first[0] = time.perf_counter() - t0
                    return out
                return _inner(a, b, **kw)

            fuser.fuse = timed_fuse  # type: ignore[method-assign]
            t = time.perf_counter()
            n = fuse_video(fuser, ir, vis, Path(tmp) / f"fused-{backend}.mp4", progress=False, stats=stats,
                           overwrite=True)
            seconds = time.perf_counter() - t
            steady = (n - 1) / (seconds - first[0]) if n and n > 1 else float("nan")
            print(f"| {backend} | {fuser.backend} {fuser.precision} | {n} | {seconds:.1f} | {n / seconds:.1f} "
                  f"| {first[0]:.1f} | {steady:.1f} |", flush=True)


if __name__ == "__main__":
    main()
