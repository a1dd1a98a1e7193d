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
