"""Speed of every runtime path and precision, interleaved in one run; prints a Markdown table.

Paths: ``NormFuser.fuse`` on uint8 arrays (conversion, colour handling and
tiling included) with ``backend="torch"`` and ``backend="openvino"``, each in
fp32 and bf16, plus ``backend="auto"`` (what it picked is shown) and, when
onnxruntime is installed, the exported ONNX graph under ONNX Runtime (graph
only, fp32).  Sizes 640 x 480 and 1280 x 1024 (above ``max_pixels``: fused in
512-pixel tiles, as ``fuse`` does).  Every round runs each path once, in turn
(interleaved, so that load from other processes hits all paths alike); the table
shows the median.  The machine's GEMM peak (``torch.matmul`` 2048^3) is measured
in the same run, before and after the paths (the larger is used), in fp32 and bf16;
each row's GFLOP/s is shown as a fraction of the peak of its precision.

    python benchmarks/bench_runtime.py                         # the default model, both sizes
    python benchmarks/bench_runtime.py --model normfuse-roadscene --sizes 640x480 --rounds 9
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np
from _common import sample_pair

PATHS = [("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16"), ("auto", "auto")]


def cpu_name() -> str:
    """The CPU's model name and its bf16 features (from /proc/cpuinfo where there is one)."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in text]
    return f"{model} ({', '.join(flags) or 'no AVX-512'})"


def gemm_peak(dtype_name: str, n: int = 2048, repeats: int = 5) -> float:
    """Measured GFLOP/s of an ``n``^3 ``torch.matmul`` in fp32 or bf16 (median of ``repeats``)."""
    import torch

    dtype = torch.float32 if dtype_name == "fp32" else torch.bfloat16
    x, y = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    x @ y
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        x @ y
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def gflop_per_pair(net, h: int, w: int) -> float:
    """The network's FLOPs for one pair of ``h`` x ``w`` (counted on 64 x 64, linear in the pixels)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    a = torch.rand(1, 1, 64, 64)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net.fuse(a, a)
    return counter.get_total_flops() / 1e9 * h * w / (64 * 64)


def _onnxruntime_step(fuser, ir, vis, tmp):
    """A fuse step through the exported ONNX graph under ONNX Runtime (fp32), or ``None`` without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    path = fuser.export(tmp, format="onnx", overwrite=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(os.environ.get("BENCH_THREADS", "2"))
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    a, b = (x[None, None].astype(np.float32) / 255 for x in (ir, vis))
    return lambda: sess.run(None, {"ir": a, "vis": b})[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model name, folder or hub repo id (default: the default model)")
    ap.add_argument("--sizes", nargs="+", default=["640x480", "1280x1024"], help="WxH")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import tempfile

    import torch

    torch.set_num_threads(args.threads)
    os.environ["BENCH_THREADS"] = str(args.threads)
    from normfuse import NormFuser
    from normfuse.devices import cpu_supports_bf16
    from normfuse.models import DEFAULT_MODEL

    native = cpu_supports_bf16()
    warnings.simplefilter("ignore")  # the emulated-bf16 warning on CPUs without it: said in the header instead
    fusers = {p: NormFuser.from_pretrained(args.model, device="cpu", backend=p[0], precision=p[1]) for p in PATHS}
    peaks = {"fp32": [gemm_peak("fp32")], "bf16": [gemm_peak("bf16")] if native else [float("nan")]}
    rows = []
    for size in args.sizes:
        w, h = (int(v) for v in size.lower().split("x"))
        ir, vis = sample_pair(h, w)
        steps = {p: (lambda f=f, ir=ir, vis=vis: f.fuse(ir, vis)) for p, f in fusers.items()}
        with tempfile.TemporaryDirectory() as tmp:
            ort_step = _onnxruntime_step(fusers[("torch", "fp32")], ir, vis, tmp) if h * w <= 1024 * 1024 else None
            if ort_step is not None:
                steps[("onnxruntime", "fp32")] = ort_step
            first = {}
            for p, step in steps.items():  # first call: conversion, compilation (OpenVINO) or plan building
                t = time.perf_counter()
                step()
                first[p] = time.perf_counter() - t
            exact = fusers[("torch", "fp32")].fuse(ir, vis).astype(int)
            drift = {p: int(np.abs(f.fuse(ir, vis).astype(int) - exact).max()) for p, f in fusers.items()}
            times: dict = {p: [] for p in steps}
            for _ in range(args.rounds):
                for p, step in steps.items():
                    t = time.perf_counter()
                    step()
                    times[p].append(time.perf_counter() - t)
        gflop = gflop_per_pair(fusers[("torch", "fp32")].net, h, w)
        for p in steps:
            ms = 1000 * statistics.median(times[p])
            f = fusers.get(p)
            precision = f.precision if f is not None else "fp32"
            backend = f.backend if f is not None else p[0]
            rows.append(dict(size=f"{w}x{h}", path=p, backend=backend, precision=precision, ms=ms, first=first[p],
                             gflop=gflop, drift=drift.get(p)))
    peaks["fp32"].append(gemm_peak("fp32"))
    if native:
        peaks["bf16"].append(gemm_peak("bf16"))
    peak = {k: max(v) for k, v in peaks.items()}

    print(f"CPU: {cpu_name()}, {args.threads} threads, torch {torch.__version__}; model: {args.model or DEFAULT_MODEL}")
    print(f"GEMM peak (torch.matmul 2048^3, same run): fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s"
          + ("" if native else " (no native bfloat16: bf16 rows are emulated)"))
    print()
    print("| path | size (WxH) | runs as | ms / pair | fps | x torch fp32 | GFLOP/s | % of its precision's GEMM peak "
          "| first call s | max diff vs torch fp32 (levels) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {r["size"]: r["ms"] for r in rows if r["path"] == ("torch", "fp32")}
    for r in rows:
        name = "auto" if r["path"][0] == "auto" else f"{r['path'][0]} {r['path'][1]}"
        gflops = r["gflop"] / (r["ms"] / 1000)
        drift = "-" if r["drift"] is None or r["path"] == ("torch", "fp32") else str(r["drift"])
        print(f"| {name} | {r['size']} | {r['backend']} {r['precision']} | {r['ms']:.0f} | {1000 / r['ms']:.1f} "
              f"| {base[r['size']] / r['ms']:.2f} | {gflops:.0f} | {100 * gflops / peak[r['precision']]:.0f} % "
              f"| {r['first']:.1f} | {drift} |", flush=True)


if __name__ == "__main__":
    main()
