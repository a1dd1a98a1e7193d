"""Inference speed and memory of the bundled model on this machine; prints a Markdown table.

Every configuration runs in its own subprocess so that its peak resident memory
is its own.  Rows: image size x precision x channels_last x threads, timing the
network on a real TNO pair resized to the size (encode both, fuse, decode),
for the layer-by-layer reference (``eager``) and the folded
:class:`~normfuse.inference.FusionPlan` (``plan``, what ``NormFuser.fuse`` runs),
plus the end-to-end default path ``NormFuser.fuse`` on uint8 arrays.  The
``x fp32 eager`` column is the speed-up over the float32, contiguous eager run
of the same size and threads.  The
achieved GFLOP/s is shown next to the machine's measured matmul peak.  On a CPU
without native bfloat16 the bf16 rows are skipped (oneDNN emulates bf16 there,
many times slower than fp32) unless ``--emulated-bf16`` is given.

    python benchmarks/bench_inference.py            # full table
    python benchmarks/bench_inference.py --quick    # 640x480 only, fewer repeats
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import sample_pair


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


def run_one(spec: dict) -> dict:
    """Measure one configuration in this process; return its row.

    Modes: ``eager`` is the layer-by-layer reference ``NormFuseNet.fuse`` (bf16
    through autocast); ``plan`` is :class:`normfuse.inference.FusionPlan`, the
    path ``NormFuser.fuse`` runs; ``end-to-end`` is ``NormFuser.fuse`` on uint8
    arrays, including conversion and clamping.
    """
    import resource

    import torch

    torch.set_num_threads(spec["threads"])
    from torch.utils.flop_counter import FlopCounterMode

    from normfuse import NormFuser
    from normfuse.inference import FusionPlan

    h, w = spec["size"]
    ir, vis = sample_pair(h, w)
    row = dict(spec)
    fuser = NormFuser.from_pretrained(device="cpu", precision=spec["precision"] if spec["mode"] == "end-to-end" else "fp32")
    net = fuser.net.eval()
    a = torch.from_numpy(ir / 255.0).float()[None, None]
    b = torch.from_numpy(vis / 255.0).float()[None, None]
    # FLOPs are linear in the pixel count: count them on a 64 x 64 crop so that the
    # counting pass does not inflate this process's peak memory
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net.fuse(a[..., :64, :64], b[..., :64, :64])
    row["gflop"] = counter.get_total_flops() / 1e9 * (h * w) / (64 * 64)
    bf16 = spec["precision"] == "bf16"
    fmt = torch.channels_last if spec["channels_last"] else torch.contiguous_format
    if spec["mode"] == "end-to-end":
        step = lambda: fuser.fuse(ir, vis)  # noqa: E731
    elif spec["mode"] == "plan":
        plan = FusionPlan(net, channels_last=spec["channels_last"], dtype=torch.bfloat16 if bf16 else torch.float32)

        def step():
            with torch.inference_mode():
                return plan(a, b)
    else:
        net = net.to(memory_format=fmt)
        a, b = a.contiguous(memory_format=fmt), b.contiguous(memory_format=fmt)

        def step():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return net.fuse(a, b)

    row["resolved"] = fuser.precision if spec["mode"] == "end-to-end" else spec["precision"]
    row["ms"] = _median_ms(step, spec["repeats"])
    row["gflops"] = row["gflop"] / (row["ms"] / 1000)
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def matmul_peak(threads: int, native_bf16: bool) -> dict[str, float]:
    """Measured GFLOP/s of a 2048^3 matmul in fp32 and bf16 with ``threads`` threads.

    bf16 is measured only with ``native_bf16`` (``nan`` otherwise: an emulated
    2048^3 bf16 matmul takes minutes and is not a peak).
    """
    import torch

    torch.set_num_threads(threads)
    out = {"bf16": float("nan")}
    n = 2048
    dtypes = [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if native_bf16 else [])
    for name, dtype in dtypes:
        x, y = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        ms = _median_ms(lambda x=x, y=y: x @ y, 5)
        out[name] = 2 * n**3 / (ms / 1000) / 1e9
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--modes", nargs="+", default=["eager", "plan", "end-to-end"],
                    choices=["eager", "plan", "end-to-end"],
                    help="rows to run (the fp32 eager baseline always runs)")
    ap.add_argument("--emulated-bf16", action="store_true",
                    help="also run bf16 rows on CPUs without native bfloat16 (emulated, many times slower)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    from normfuse.devices import cpu_supports_bf16

    native_bf16 = cpu_supports_bf16()
    precisions = ("fp32", "bf16") if native_bf16 or args.emulated_bf16 else ("fp32",)
    sizes = [(480, 640)] if args.quick else [(480, 640), (1080, 1920)]
    threads_list = [os.cpu_count() or 1] if args.quick else sorted({1, os.cpu_count() or 1})
    specs = []
    for size in sizes:
        repeats = 3 if args.quick or size[0] > 500 else 7
        for threads in threads_list:
            for mode in ("eager", "plan"):
                for precision in precisions:
                    for cl in (False, True):
                        baseline = mode == "eager" and precision == "fp32" and not cl
                        if mode in args.modes or baseline:
                            specs.append(dict(mode=mode, size=size, precision=precision, channels_last=cl,
                                              threads=threads, repeats=repeats))
            if "end-to-end" in args.modes:
                for precision in ("auto",) + precisions[1:]:
                    specs.append(dict(mode="end-to-end", size=size, precision=precision, channels_last=True,
                                      threads=threads, repeats=repeats))
    peaks = {t: matmul_peak(t, native_bf16) for t in threads_list}
    print("matmul peak (2048^3): " + ", ".join(
        f"{t} thread(s): fp32 {p['fp32']:.0f} GFLOP/s, bf16 {p['bf16']:.0f} GFLOP/s" for t, p in peaks.items())
        + ("" if native_bf16 else " (no native bfloat16 on this CPU: bf16 rows "
              + ("are emulated)" if args.emulated_bf16 else "skipped, --emulated-bf16 runs them)")))
    print()
    print("| path | size (WxH) | precision | channels_last | threads | ms / pair | x fp32 eager "
          "| GFLOP | GFLOP/s | % of matmul peak | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    baseline: dict[tuple, float] = {}
    for spec in specs:
        res = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"| {spec} | failed: {res.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        h, w = r["size"]
        key = (h, w, r["threads"])
        if r["mode"] == "eager" and r["precision"] == "fp32" and not r["channels_last"]:
            baseline[key] = r["ms"]
        speedup = baseline[key] / r["ms"] if key in baseline else float("nan")
        peak = peaks[r["threads"]][r["resolved"]]
        precision = f"auto ({r['resolved']})" if r["precision"] == "auto" else r["precision"]
        print(
            f"| {r['mode']} | {w}x{h} | {precision} | {'on' if r['channels_last'] else 'off'} | {r['threads']} "
            f"| {r['ms']:.0f} | {speedup:.2f} | {r['gflop']:.1f} | {r['gflops']:.1f} "
            f"| {100 * r['gflops'] / peak:.0f}% | {r['peak_rss_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
