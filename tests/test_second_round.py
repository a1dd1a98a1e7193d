"""Defects a new user met in the second round (issue 21): 16-bit radiometric thermal data, alpha channels,
``--device cuda`` without CUDA, messages and docs. Each test here failed before its fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from normfuse import NormFuser
from normfuse.metrics import compute


@pytest.fixture(scope="module")
def trained(one_thread):
    return NormFuser.from_pretrained(device="cpu", precision="fp32")


# ---------------------------------------------------------------- item 2: radiometric 16-bit thermal data
def test_radiometric_uint16_thermal_keeps_its_targets_by_default(trained, tno_pair):
    from normfuse.inputs import NarrowRangeWarning

    ir, vis = tno_pair
    ir16 = (29000 + ir.astype(np.uint16) * 8).astype(np.uint16)  # 17-37 degrees C in centi-kelvin: 29000..31040
    share8 = compute(trained.fuse(ir, vis), ir, vis, ["IRshare"])["IRshare"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default says nothing: it handles such data
        share16 = compute(trained.fuse(ir16, vis), ir, vis, ["IRshare"])["IRshare"]
    assert share8 > 0.8 and share16 > 0.8 * share8, (share8, share16)
    with pytest.warns(NarrowRangeWarning, match=r"values span 29\d+\.\.3\d+ of 0\.\.65535.*thermal_range='auto'"):
        flat = trained.fuse(ir16, vis, thermal_range="dtype")  # by the dtype's range: the targets are gone
    assert compute(flat, ir, vis, ["IRshare"])["IRshare"] < 0.3
    for trivial in (vis, np.maximum(ir, vis) // 2 + vis // 2):  # fusers that do not carry the targets
        assert compute(trivial, ir, vis, ["IRshare"])["IRshare"] < 0.8 * share8
    # 8-bit thermal input is unaffected by the default
    np.testing.assert_array_equal(trained.fuse(ir, vis), trained.fuse(ir, vis, thermal_range="dtype"))


def test_percentile_stretch_of_an_image_over_16_million_pixels():
    from normfuse.inputs import prepare

    big = np.random.default_rng(0).integers(29000, 31041, (4097, 4097), dtype=np.uint16)  # over torch.quantile's 2**24
    luma = prepare(big, "ir", "percentile").luma  # the default policy for uint16 IR
    assert luma.shape == (1, 1, 4097, 4097)
    assert float(luma.min()) == 0 and float(luma.max()) == 1 and 0.45 < float(luma.mean()) < 0.55


# ---------------------------------------------------------------- item 5: --device cuda on a machine without CUDA
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_one_line_usage_error_in_every_command(data_dir, small_data, tmp_path, capsys):
    from normfuse.cli import main
    from normfuse.samples import sample_pair_paths

    ir, vis = (str(p) for p in sample_pair_paths())
    (tmp_path / "a.mp4").write_bytes(b"")  # the device is refused before a frame is read
    (tmp_path / "b.mp4").write_bytes(b"")
    commands = {
        "fuse": ["fuse", ir, vis, "-o", str(tmp_path / "f.png")],
        "video": ["fuse", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-o", str(tmp_path / "f.mp4")],
        "evaluate": ["evaluate", "--methods", "bundled", "--datasets", "tno", "--data", str(data_dir),
                     "--metrics", "EN", "--out", str(tmp_path / "ev")],
        "explain": ["explain", ir, vis, "-o", str(tmp_path / "x.png")],
        "train": ["train", "--data", str(small_data), "--out", str(tmp_path / "run"), "--max-steps", "1",
                  "--width", "8", "--no-progress"],
    }
    for name, argv in commands.items():
        rc = main([*argv, "--device", "cuda"])
        err = capsys.readouterr().err
        assert rc == 2, (name, err)
        assert err.count("\n") == 1 and "error: device 'cuda' was requested but CUDA is not available" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"], "nothing written"


# ---------------------------------------------------------------- item 6: alpha channels, one rule for files and arrays
def test_alpha_is_dropped_with_a_warning_from_files_and_arrays_alike(trained, data_dir, tmp_path):
    import json

    import imageio.v3 as iio

    from normfuse.io import AlphaDroppedWarning

    name = json.loads((data_dir / "roadscene" / "split.json").read_text())["test"][0]
    ir = iio.imread(data_dir / "roadscene" / "ir" / name)[:64, :80]
    vis = iio.imread(data_dir / "roadscene" / "vis" / name)[:64, :80]
    ir = ir[..., 0] if ir.ndim == 3 else ir
    alpha = np.full(ir.shape, 255, np.uint8)
    alpha[:, :40] = 0  # the left half transparent
    rgba, grey_alpha = np.dstack([vis, alpha]), np.dstack([ir, alpha])
    iio.imwrite(tmp_path / "rgba.png", rgba)
    iio.imwrite(tmp_path / "ga.png", grey_alpha)
    assert iio.imread(tmp_path / "ga.png").shape == (64, 80, 2)
    want = trained.fuse(ir, vis)
    for ir_in, vis_in in ((ir, rgba), (grey_alpha, vis), (tmp_path / "ga.png", tmp_path / "rgba.png")):
        with pytest.warns(AlphaDroppedWarning, match=r"50\.0% of its pixels are not opaque") as rec:
            out = trained.fuse(ir_in, vis_in)
        np.testing.assert_array_equal(out, want)
        assert all(r.filename == __file__ for r in rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fully opaque alpha is dropped without a word
        np.testing.assert_array_equal(trained.fuse(np.dstack([ir, np.full_like(ir, 255)]), vis), want)


# ---------------------------------------------------------------- item 7: messages and docs
def _direction_rows() -> list[str]:
    """The rows docs/metrics.md must list: every registered metric, then the presets' own metrics."""
    from normfuse import metrics

    better = {True: "higher", False: "lower"}
    rows = [f"| `{n}` | {i.full_name} | {better[i.higher_is_better]} |" for n, i in metrics.METRICS.items()]
    extra: dict[str, tuple[bool, list[str]]] = {}
    for c in metrics.list_conventions():
        for n, spec in metrics.get_convention(c).metrics.items():
            if n not in metrics.METRICS:
                direction, where = extra.setdefault(n, (spec.higher_is_better, []))
                assert direction == spec.higher_is_better, f"{n} has two directions"
                where.append(f"`{c}`")
    rows += [f"| `{n}` | presets {', '.join(w)} only | {better[h]} |" for n, (h, w) in extra.items()]
    return rows


def test_metrics_doc_says_per_metric_whether_higher_or_lower_is_better_as_the_registry_does():
    from tests.conftest import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "metrics.md").read_text()
    assert "All metrics are higher-is-better" not in text
    begin, end = "<!-- directions: generated from the registry -->", "<!-- end of directions -->"
    block = text.split(begin, 1)[1].split(end, 1)[0].strip().splitlines()
    assert block[2:] == _direction_rows(), "\n" + "\n".join(_direction_rows())
    lower = {r.split("`")[1] for r in block[2:] if r.endswith("| lower |")}
    assert {"CRUSH", "MSE", "RMSE", "CE", "Qcv"} <= lower


def test_to_gray8_output_goes_back_into_compute_with_the_same_scores(roadscene_pair):
    from normfuse import metrics

    ir, vis = (a[:64, :80] for a in roadscene_pair)
    fused = ((ir.astype(np.float64) if ir.ndim == 2 else ir.mean(2)) / 510 + vis.mean(2) / 510)  # float in [0, 1]
    grey = [metrics.to_gray8(x) for x in (fused, ir, vis)]
    assert all(g.dtype == np.uint8 and g.shape == (64, 80) for g in grey)
    names = ["EN", "SD", "MI", "Qabf", "PSNR"]
    assert metrics.compute(*grey, names) == metrics.compute(fused, ir, vis, names)
    np.testing.assert_array_equal(metrics.to_gray8(grey[2]), grey[2])  # grey 8-bit in, the same out


def test_cli_size_mismatch_says_resize_as_a_flag_for_videos_and_images(data_dir, tmp_path, capsys):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio

    from normfuse.cli import main

    ir = iio.imread(data_dir / "tno" / "ir" / "17.bmp")
    vis = iio.imread(data_dir / "tno" / "vis" / "17.bmp")
    for name, img in (("ir.mp4", ir[:32, :48]), ("vis.mp4", vis[:48, :64])):
        w = imageio_ffmpeg.write_frames(str(tmp_path / name), img.shape[::-1], pix_fmt_in="gray", fps=5,
                                        macro_block_size=1, ffmpeg_log_level="error")
        w.send(None)
        w.send(np.ascontiguousarray(img))
        w.close()
    iio.imwrite(tmp_path / "ir.png", ir[:32, :48])
    iio.imwrite(tmp_path / "vis.png", vis[:48, :64])
    fast = ["--precision", "fp32", "--threads", "1", "--quiet"]
    for a, b, out, rc in (("ir.mp4", "vis.mp4", "f.mp4", 2), ("ir.png", "vis.png", "f.png", 1)):
        assert main(["fuse", str(tmp_path / a), str(tmp_path / b), "-o", str(tmp_path / out), *fast]) == rc
        err = capsys.readouterr().err
        assert "ir image is 32x48 (HxW) but vis image is 48x64" in err, err
        assert "pass --resize ir (resize IR to the visible size) or --resize vis" in err and "resize='" not in err
        assert not (tmp_path / out).exists()


def test_mistyped_local_model_path_shaped_like_a_repo_id_says_no_folder_and_no_repo(tmp_path, monkeypatch, capsys):
    import socket

    from huggingface_hub import constants as hf_constants

    from normfuse.cli import main

    def refuse(self, address, *args, **kwargs):  # no network: what this machine has, and CI must not depend on
        raise OSError(f"network access attempted to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "mine" / "final").mkdir(parents=True)
    assert main(["fuse", "--model", "runs/doesnotexist", "-o", "f.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normfuse fuse: error: 'runs/doesnotexist': no such folder ('runs' exists: a mistyped "
                          "folder?), and no such Hub repo could be loaded"), err
    assert not (tmp_path / "f.png").exists()


# ---------------------------------------------------------------- item 8: pairs must be registered
def test_readme_and_getting_started_say_pairs_must_be_registered_and_point_to_registration():
    from tests.conftest import PROJECT_ROOT

    for doc in ("README.md", "docs/getting-started.md"):
        text = " ".join((PROJECT_ROOT / doc).read_text().split())
        assert "must be registered pixel for pixel" in text, doc
        assert "a misaligned pair gives doubled edges" in text and "See docs/registration.md." in text, doc


def test_a_misaligned_pair_gives_doubled_edges(trained, tno_pair):
    """What the docs say: shift the IR image by 8 pixels and the fused image has the edges of both."""
    ir, vis = tno_pair
    shifted = np.roll(ir, 8, axis=1)

    def edges(x):
        return np.abs(np.diff(x.astype(np.float64), axis=1))[:, 16:-16]  # vertical edges, off the wrap

    def corr(a, b):
        return float(np.corrcoef(edges(a).ravel(), edges(b).ravel())[0, 1])

    fused = trained.fuse(shifted, vis)
    assert corr(fused, vis) > 0.4 and corr(fused, shifted) > 0.4, (corr(fused, vis), corr(fused, shifted))
    assert corr(shifted, vis) < 0.5 * min(corr(fused, vis), corr(fused, shifted))  # two sets of edges, apart
    aligned = trained.fuse(ir, vis)
    assert corr(aligned, shifted) < corr(fused, shifted)
