"""``normfuse fuse``: one pair, folders, globs, skipping, failures, dry runs, interrupted runs, video.

Real TNO/RoadScene images from the ``data_dir`` fixture. The model runs on
one torch thread, in bf16 where the CPU has native bfloat16: on a busy two-core
machine that is several times cheaper than fp32 on two threads (without native
support bf16 is emulated and slower than fp32, so fp32 is used there).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import png
import pytest
import torch

from normfuse.batch import Pair, atomic_write_image, match_pairs, plan_outputs
from normfuse.cli import main
from normfuse.devices import cpu_supports_bf16
from normfuse.io import encode_image

FAST = ["--precision", "bf16" if cpu_supports_bf16() else "fp32", "--threads", "1", "--quiet"]


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _copy_tno(data_dir: Path, dst: Path, names: list[str]) -> Path:
    for sub in ("ir", "vis"):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copy(data_dir / "tno" / sub / n, dst / sub / n)
    return dst


def _visible(folder: Path) -> list[Path]:
    """Files a user sees as outputs (temporary files are hidden)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _read_png16(data: bytes) -> np.ndarray:
    """Decode a 16-bit PNG with pypng (Pillow, and so imageio, reads 16-bit RGB as 8-bit)."""
    width, height, rows, info = png.Reader(bytes=data).read()
    assert info["bitdepth"] == 16
    arr = np.vstack([np.asarray(r, np.uint16) for r in rows])
    return arr.reshape(height, width, info["planes"]) if info["planes"] > 1 else arr.reshape(height, width)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (1, 1, 3), (64, 33, 3)])
def test_16_bit_png_encoder_round_trips_through_pypng(shape):
    image = np.random.default_rng(sum(shape)).integers(0, 65536, shape).astype(np.uint16)
    image.flat[:2] = (0, 65535)
    np.testing.assert_array_equal(_read_png16(encode_image(image, ".png")), image)
    # byte order and strides of the input do not matter
    swapped = image.astype(">u2")[..., ::-1] if image.ndim == 3 else image.astype(">u2")[:, ::-1]
    want = image[..., ::-1] if image.ndim == 3 else image[:, ::-1]
    np.testing.assert_array_equal(_read_png16(encode_image(swapped, ".png")), want)


def test_folder_mode_over_tno_then_every_pair_is_skipped(data_dir, tmp_path, capsys):
    ir_dir, vis_dir, out = data_dir / "tno" / "ir", data_dir / "tno" / "vis", tmp_path / "out"
    args = ["fuse", str(ir_dir), str(vis_dir), "-o", str(out), *FAST]

    assert main(args + ["--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert not out.exists(), "a dry run must not create anything"
    assert listed.count("fuse: ") == 40 and "would fuse 40, skip 0, fail 0" in listed

    assert main(args) == 0
    assert "fused 40, skipped 0, failed 0" in capsys.readouterr().out
    files = _visible(out)
    assert [f.name for f in files] == [f"{i:02d}.png" for i in range(1, 41)]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary files left"
    for f in files:
        img = iio.imread(f)
        assert img.dtype == np.uint8 and img.shape == iio.imread(ir_dir / f"{f.stem}.bmp").shape[:2]

    mtimes = {f.name: f.stat().st_mtime_ns for f in files}
    assert main(args) == 0
    assert "fused 0, skipped 40, failed 0" in capsys.readouterr().out
    assert {f.name: f.stat().st_mtime_ns for f in _visible(out)} == mtimes

    assert main(args + ["--dry-run"]) == 0
    assert capsys.readouterr().out.count("skip (exists): ") == 40


def test_overwrite_rewrites_and_format_and_16_bit(data_dir, tmp_path, capsys):
    src = _copy_tno(data_dir, tmp_path / "in", ["06.bmp", "08.bmp"])
    out = tmp_path / "out"
    args = ["fuse", str(src / "ir"), str(src / "vis"), "-o", str(out), *FAST]
    assert main(args) == 0
    before = {f.name: f.stat().st_ino for f in _visible(out)}
    data = {f.name: f.read_bytes() for f in _visible(out)}
    assert main(args + ["--overwrite"]) == 0
    assert "fused 2, skipped 0, failed 0" in capsys.readouterr().out
    assert {f.name: f.stat().st_ino for f in _visible(out)}.keys() == before.keys()
    assert all(f.stat().st_ino != before[f.name] for f in _visible(out)), "--overwrite writes new files"
    assert {f.name: f.read_bytes() for f in _visible(out)} == data, "same inputs, same model: same bytes"

    # 16-bit thermal input: 16-bit PNG/TIFF only when asked for; JPEG refuses 16 bits before any work
    ir16 = tmp_path / "ir16"
    ir16.mkdir()
    for f in (src / "ir").iterdir():
        iio.imwrite(ir16 / f"{f.stem}.png", iio.imread(f).astype(np.uint16) * 257)
    for fmt, bits, dtype in (("tif", "16", np.uint16), ("png", "16", np.uint16), ("png", "8", np.uint8)):
        dst = tmp_path / f"o_{fmt}_{bits}"
        assert main(["fuse", str(ir16), str(src / "vis"), "-o", str(dst), "--format", fmt, "--bit-depth", bits,
                     "--thermal-range", "dtype", *FAST]) == 0
        imgs = [iio.imread(f) for f in _visible(dst)]
        assert [f.suffix for f in _visible(dst)] == [f".{fmt}"] * 2 and all(i.dtype == dtype for i in imgs)
    eight, sixteen = iio.imread(tmp_path / "o_png_8" / "06.png"), iio.imread(tmp_path / "o_png_16" / "06.png")
    assert np.abs(sixteen / 257.0 - eight).max() <= 0.5 + 1e-9
    assert main(["fuse", str(ir16), str(src / "vis"), "-o", str(tmp_path / "j"), "--format", "jpg",
                 "--bit-depth", "16", *FAST]) == 2
    assert "JPEG" in capsys.readouterr().err and not (tmp_path / "j").exists()
    # 8-bit inputs stay 8-bit even with --bit-depth 16
    assert main(["fuse", str(src / "ir"), str(src / "vis"), "-o", str(tmp_path / "o8"), "--bit-depth", "16",
                 *FAST]) == 0
    assert iio.imread(tmp_path / "o8" / "06.png").dtype == np.uint8


def test_unreadable_input_and_missing_partners_are_reported_and_the_run_goes_on(data_dir, tmp_path, capsys):
    src = _copy_tno(data_dir, tmp_path / "in", ["05.bmp", "07.bmp", "15.bmp"])
    (src / "ir" / "07.bmp").write_bytes(b"BM not really a bitmap" * 50)
    shutil.copy(data_dir / "tno" / "ir" / "21.bmp", src / "ir" / "21.bmp")      # no visible partner
    shutil.copy(data_dir / "tno" / "vis" / "22.bmp", src / "vis" / "22.bmp")    # no infrared partner
    out = tmp_path / "out"
    args = ["fuse", str(src / "ir"), str(src / "vis"), "-o", str(out), *FAST]
    assert main(args) == 1
    cap = capsys.readouterr()
    assert [f.name for f in _visible(out)] == ["05.png", "15.png"]
    assert "failed: 07: " in cap.err and "07.bmp" in cap.err
    assert "21.bmp: no visible partner" in cap.err and "22.bmp: no infrared partner" in cap.err
    assert "fused 2, skipped 0, failed 3" in cap.out
    for f in _visible(out):
        assert iio.imread(f).shape == iio.imread(src / "ir" / f"{f.stem}.bmp").shape
    assert main(args) == 1  # still failing, the good pairs are skipped
    assert "fused 0, skipped 2, failed 3" in capsys.readouterr().out


def test_globs_match_by_stem_and_single_pairs(data_dir, tmp_path, capsys):
    src = _copy_tno(data_dir, tmp_path / "in", ["03.bmp", "17.bmp"])
    for f in (src / "vis").iterdir():  # visible as PNG: matched by stem, not by file name
        iio.imwrite(f.with_suffix(".png"), iio.imread(f))
        f.unlink()
    ir_glob, vis_glob = str(src / "ir" / "*.bmp"), str(src / "vis" / "*.png")
    pairs = match_pairs(ir_glob, vis_glob)
    assert [(p.name, p.ir.name, p.vis.name) for p in pairs] == [("03", "03.bmp", "03.png"), ("17", "17.bmp", "17.png")]
    assert main(["fuse", ir_glob, vis_glob, "-o", str(tmp_path / "g"), "--format", "jpg", *FAST]) == 0
    assert [f.name for f in _visible(tmp_path / "g")] == ["03.jpg", "17.jpg"]
    capsys.readouterr()

    # one pair: written to -o; colour visible input gives colour output
    name = sorted((data_dir / "roadscene" / "ir").iterdir())[0].name
    rs_ir, rs_vis = data_dir / "roadscene" / "ir" / name, data_dir / "roadscene" / "vis" / name
    assert main(["fuse", str(rs_ir), str(rs_vis), "-o", str(tmp_path / "one.png"), *FAST]) == 0
    assert "wrote" in capsys.readouterr().out
    vis_img = iio.imread(rs_vis)
    assert iio.imread(tmp_path / "one.png").shape == vis_img.shape
    # 16-bit colour PNG (written by normfuse itself: Pillow cannot)
    ir16 = tmp_path / "rs_ir16.png"
    iio.imwrite(ir16, iio.imread(rs_ir).astype(np.uint16) * 257)
    assert main(["fuse", str(ir16), str(rs_vis), "-o", str(tmp_path / "c16.png"), "--bit-depth", "16",
                 "--thermal-range", "dtype", *FAST]) == 0
    c16 = _read_png16((tmp_path / "c16.png").read_bytes())
    c8 = iio.imread(tmp_path / "one.png")
    assert c16.dtype == np.uint16 and c16.shape == vis_img.shape
    assert np.abs(c16 / 257.0 - c8.astype(np.float64)).max() <= 1.0 + 1e-9

    # refusals (exit 2, nothing written): output equal to an input, output folder equal to an input folder
    ir, vis = src / "ir" / "03.bmp", src / "vis" / "03.png"
    ir_bytes = ir.read_bytes()
    with pytest.raises(ValueError, match="input file"):
        plan_outputs([Pair("03", ir, vis, ir)])
    assert main(["fuse", str(ir), str(vis), "-o", str(vis), *FAST, "--overwrite"]) == 2
    assert "input file" in capsys.readouterr().err and ir.read_bytes() == ir_bytes
    assert main(["fuse", str(src / "ir"), str(src / "vis"), "-o", str(src / "vis"), *FAST]) == 2
    assert "input folder" in capsys.readouterr().err
    assert sorted(p.name for p in (src / "vis").iterdir()) == ["03.png", "17.png"]
    assert main(["fuse", str(src / "ir"), str(src / "vis"), *FAST]) == 2  # folders need -o
    assert main(["fuse", str(ir), str(src / "vis"), "-o", str(tmp_path / "x"), *FAST]) == 2  # file + folder
    assert main(["fuse", str(ir), str(vis), "-o", str(tmp_path / "x.gif"), *FAST]) == 2  # unknown format
    assert "must end in" in capsys.readouterr().err


def test_atomic_write_never_leaves_partial_files(tmp_path):
    target = tmp_path / "a.png"
    atomic_write_image(target, np.full((8, 9), 7, np.uint8))
    with pytest.raises(FileExistsError):
        atomic_write_image(target, np.zeros((8, 9), np.uint8))
    assert iio.imread(target).max() == 7
    with pytest.raises(ValueError):  # encoding fails before anything touches the disk
        atomic_write_image(tmp_path / "b.png", np.zeros((8, 9), np.float32))
    atomic_write_image(target, np.zeros((8, 9), np.uint8), overwrite=True)
    assert iio.imread(target).max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_killed_run_leaves_no_partial_outputs_and_a_rerun_finishes(data_dir, tmp_path):
    names = [f"{i:02d}.bmp" for i in range(1, 21)]
    src = tmp_path / "in"
    for sub in ("ir", "vis"):
        (src / sub).mkdir(parents=True)
        for n in names:
            os.symlink(data_dir.resolve() / "tno" / sub / n, src / sub / n)
    out = tmp_path / "out"
    script = Path(sys.executable).with_name("normfuse")
    cmd = [str(script) if script.exists() else shutil.which("normfuse"),
           "fuse", str(src / "ir"), str(src / "vis"), "-o", str(out), "--workers", "2", *FAST]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and _visible(out):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    proc.stderr.close()
    done = _visible(out)
    assert 0 < len(done) < 20, "the kill should land mid-run"
    for f in done:  # every visible output is complete
        assert f.suffix == ".png"
        assert iio.imread(f).shape == iio.imread(src / "ir" / f"{f.stem}.bmp").shape
    # a temporary file as a killed writer leaves it: hidden, not an image name, removed by the next run
    stale = out / f".20.png.normfuse-{proc.pid}-0badf00d.part"
    stale.write_bytes(b"\x89PNG half")

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"fused {20 - len(done)}, skipped {len(done)}, failed 0" in res.stdout
    assert [f.name for f in _visible(out)] == [n.replace(".bmp", ".png") for n in names]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files are cleaned up"
    for f in _visible(out):
        assert iio.imread(f).shape == iio.imread(src / "ir" / f"{f.stem}.bmp").shape


def test_video_frame_by_frame(data_dir, tmp_path, capsys):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    ir = iio.imread(data_dir / "tno" / "ir" / "17.bmp")[:96, :128]
    vis = iio.imread(data_dir / "tno" / "vis" / "17.bmp")[:96, :128]
    for name, img in (("ir.mp4", ir), ("vis.mp4", vis)):
        w = imageio_ffmpeg.write_frames(str(tmp_path / name), (128, 96), pix_fmt_in="gray", fps=5,
                                        macro_block_size=1, ffmpeg_log_level="error")
        w.send(None)
        for k in range(4):
            w.send(np.ascontiguousarray(np.roll(img, 3 * k, axis=1)))
        w.close()
    out = tmp_path / "fused.mp4"
    args = ["fuse", str(tmp_path / "ir.mp4"), str(tmp_path / "vis.mp4"), "-o", str(out), *FAST]
    assert main(args) == 0
    assert "4 frames" in capsys.readouterr().out
    gen = imageio_ffmpeg.read_frames(str(out))
    meta = next(gen)
    assert tuple(meta["size"]) == (128, 96) and len(list(gen)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fused.mp4", "ir.mp4", "vis.mp4"]
    assert main(args) == 0 and "skipped" in capsys.readouterr().out


def test_video_without_imageio_ffmpeg_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails
    for n in ("a.mp4", "b.mp4"):
        (tmp_path / n).write_bytes(b"")
    rc = main(["fuse", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-o", str(tmp_path / "f.mp4"), *FAST])
    assert rc == 2 and "pip install 'normfuse[video]'" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_pipeline_records_every_pair_once_and_goes_on_after_a_failure(workers):
    import threading

    from normfuse.runner import Pipeline

    pairs = [Pair(f"{i:02d}", Path(f"ir/{i:02d}.png"), Path(f"vis/{i:02d}.png")) for i in range(9)]
    threads, written, outcomes = set(), [], []

    def read(pair):
        threads.add(threading.current_thread().name)
        if pair.name == "03":
            raise OSError("cannot read 03")
        return np.full((2, 2), int(pair.name), np.uint8), np.zeros((2, 2), np.uint8)

    def write(pair, image):
        if pair.name == "05":
            raise ValueError("disk full")
        written.append((pair.name, int(image[0, 0])))

    Pipeline(read, lambda ir, vis: ir + vis, write, lambda p, exc: outcomes.append((p.name, exc)), workers).run(pairs)
    assert sorted(name for name, _ in outcomes) == [p.name for p in pairs]  # each pair once
    ok = [p.name for p in pairs if p.name not in ("03", "05")]
    assert [name for name, exc in outcomes if exc is None] == ok  # finished writes are recorded in order
    failed = {name: str(exc) for name, exc in outcomes if exc is not None}
    assert failed == {"03": "cannot read 03", "05": "disk full"}
    assert sorted(written) == [(name, int(name)) for name in ok]
    # workers=0 runs everything in the calling thread; otherwise reads run in the pool
    assert threads == {threading.current_thread().name} if workers == 0 else all(
        t.startswith("normfuse-io") for t in threads
    )
