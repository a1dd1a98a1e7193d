"""Fusion metrics: known answers, input handling, registry, reports, and calibration on DIDFuse's table."""

from __future__ import annotations

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from normfuse import metrics
from normfuse.metrics.basic import (
    entropy,
    mean_gradient,
    spatial_frequency,
    spatial_frequency_uint8,
    spatial_frequency_zeropad,
    standard_deviation,
    standard_deviation_colmean,
)
from normfuse.metrics.information import fusion_mi, mutual_information
from normfuse.metrics.qabf import qabf
from normfuse.metrics.vif import fusion_vifp, viff
from normfuse.samples import sample_pair_paths

# ---------------------------------------------------------------------------------------------
# Known answers


def test_entropy_constant_and_ramp():
    assert entropy(np.full((7, 9), 42, np.uint8)) == 0.0
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert entropy(ramp) == pytest.approx(8.0, abs=1e-12)
    assert metrics.compute(ramp, None, None, names=["EN"]) == {"EN": pytest.approx(8.0, abs=1e-12)}


def test_mi_of_identical_images_is_twice_the_entropy():
    x = np.random.default_rng(1).integers(0, 256, (64, 80)).astype(np.float64)
    assert mutual_information(x, x) == pytest.approx(entropy(x), abs=1e-10)
    assert fusion_mi(x, x, x) == pytest.approx(2 * entropy(x), abs=1e-10)
    assert metrics.compute(x.astype(np.uint8), x.astype(np.uint8), x.astype(np.uint8), ["MI_nats"])[
        "MI_nats"
    ] == pytest.approx(2 * entropy(x) * math.log(2), abs=1e-10)


def test_mi_of_independent_images_is_small():
    rng = np.random.default_rng(2)
    a, b = (rng.integers(0, 4, (200, 200)) * 60 for _ in range(2))
    assert mutual_information(a, b) < 0.01


F_SMALL = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])


def test_sd_hand_computed():
    # mean 4; deviations -3 -2 0 / -1 1 5 -> sum of squares 40 over 6 pixels
    assert standard_deviation(F_SMALL) == pytest.approx(math.sqrt(40 / 6))
    # column means 2, 3.5, 6.5 -> deviations +-1, +-1.5, +-2.5 -> 19 over 6 pixels
    assert standard_deviation_colmean(F_SMALL) == pytest.approx(math.sqrt(19 / 6))


def test_sf_hand_computed():
    # horizontal differences 1 2 / 2 4 -> mean square 25/4; vertical 2 3 5 -> 38/3
    assert spatial_frequency(F_SMALL) == pytest.approx(math.sqrt(25 / 4 + 38 / 3))
    f = np.array([[0.0, 20.0], [30.0, 5.0]])
    assert spatial_frequency(f) == pytest.approx(math.sqrt((400 + 625) / 2 + (900 + 225) / 2))
    # uint8: 20 -> 400 saturates to 255, -25 -> 0; 30 -> 255, -15 -> 0
    assert spatial_frequency_uint8(f) == pytest.approx(math.sqrt(255 / 2 + 255 / 2))
    # ... and really is what uint8 arithmetic gives
    u = f.astype(np.uint8)
    with np.errstate(over="ignore"):
        dh = np.where(u[:, 1:] >= u[:, :-1], u[:, 1:] - u[:, :-1], 0).astype(np.int64)
        dv = np.where(u[1:] >= u[:-1], u[1:] - u[:-1], 0).astype(np.int64)
    sat = lambda d: np.minimum(d * d, 255).mean()  # noqa: E731
    assert spatial_frequency_uint8(f) == pytest.approx(math.sqrt(sat(dh) + sat(dv)))
    # zero padding after the last row / column: horizontal 1 -2 / 1 -4, vertical 2 2 / -3 -4
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert spatial_frequency_zeropad(g) == pytest.approx(math.sqrt(22 / 4 + 33 / 4))


def test_mg_hand_computed():
    # numpy.gradient: gx rows (1, 1.5, 2), (2, 3, 4); gy (2, 3, 5) in both rows; divided by (2-1)(3-1)
    terms = [2.5, 5.625, 14.5, 4.0, 9.0, 20.5]
    assert mean_gradient(F_SMALL) == pytest.approx(sum(math.sqrt(t) for t in terms) / 2)


def test_vif_of_fused_identical_to_both_sources_is_one():
    x = np.random.default_rng(3).integers(0, 256, (64, 72)).astype(np.float64)
    assert viff(x, x, x) == pytest.approx(1.0, abs=1e-9)
    assert fusion_vifp(x, x, x) == pytest.approx(2.0, abs=1e-9)
    blurred = (x + np.roll(x, 1, 0) + np.roll(x, 1, 1) + np.roll(x, 1, (0, 1))) / 4
    assert viff(np.round(blurred), x, x) < 0.9


def test_vif_needs_41_pixels():
    x = np.zeros((40, 100))
    with pytest.raises(ValueError, match="41x41"):
        viff(x, x, x)


def test_qabf_of_fused_equal_to_sources_is_the_maximum():
    x = np.random.default_rng(4).integers(0, 256, (48, 48)).astype(np.float64)
    top = 0.9994 / (1 + math.exp(-15 * 0.5)) * 0.9879 / (1 + math.exp(-22 * 0.2))
    assert qabf(x, x, x) == pytest.approx(top, abs=1e-12)
    assert top == pytest.approx(0.9748, abs=1e-4)
    assert qabf(np.round(x / 2 + 64), x, x) < 0.9


def test_qabf_matches_a_per_pixel_transcription_of_the_definition():
    """Loop version of Xydeas-Petrovic on a small image, with the paper's and the MATLAB code's tie rule."""
    rng = np.random.default_rng(6)
    a, b = (rng.integers(0, 256, (9, 11)).astype(np.float64) for _ in range(2))
    f = np.round((a + b) / 2)
    f[2:5, 3:6] = a[2:5, 3:6]  # some exact ties gA == gF

    def sobel(x):
        p = np.pad(x, 1)
        gx, gy = np.zeros_like(x), np.zeros_like(x)
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                w = p[i : i + 3, j : j + 3]
                gx[i, j] = (w[:, 0] * [1, 2, 1]).sum() - (w[:, 2] * [1, 2, 1]).sum()  # conv2 with h3
                gy[i, j] = (w[2] * [1, 2, 1]).sum() - (w[0] * [1, 2, 1]).sum()  # conv2 with h1
        return gx, gy

    def q_map(gs_x, gs_y, gf_x, gf_y, matlab):
        out, weight = 0.0, 0.0
        for sx, sy, fx, fy in zip(gs_x.ravel(), gs_y.ravel(), gf_x.ravel(), gf_y.ravel()):
            gs, gf = math.hypot(sx, sy), math.hypot(fx, fy)
            als = math.pi / 2 if sx == 0 else math.atan(sy / sx)
            alf = math.pi / 2 if fx == 0 else math.atan(fy / fx)
            G = gf / gs if gs > gf else ((gf if matlab else 1.0) if gs == gf else gs / gf)
            A = 1 - abs(als - alf) / (math.pi / 2)
            q = 0.9994 / (1 + math.exp(-15 * (G - 0.5))) * 0.9879 / (1 + math.exp(-22 * (A - 0.8)))
            out += q * gs
            weight += gs
        return out, weight

    fx, fy = sobel(f)
    for matlab in (False, True):
        na, wa = q_map(*sobel(a), fx, fy, matlab)
        nb, wb = q_map(*sobel(b), fx, fy, matlab)
        got = qabf(f, a, b, tie_rule="matlab" if matlab else "paper")
        assert got == pytest.approx((na + nb) / (wa + wb), abs=1e-12)
    assert qabf(f, a, b, tie_rule="matlab") > qabf(f, a, b)


def test_vif_window_filter_is_matlab_filter2_valid():
    from scipy.signal import correlate2d

    from normfuse.metrics.vif import _filter_valid, _window_1d

    x = np.random.default_rng(7).random((30, 40)) * 255
    for scale in range(4):
        w1 = _window_1d(scale)
        n = len(w1)
        yy, xx = np.mgrid[: n, : n] - (n - 1) / 2
        w2 = np.exp(-(xx**2 + yy**2) / (2 * (n / 5) ** 2))  # fspecial('gaussian', N, N/5)
        w2 /= w2.sum()
        np.testing.assert_allclose(_filter_valid(x, w1), correlate2d(x, w2, mode="valid"), rtol=0, atol=1e-9)


def test_structural_metrics_known_answers():
    x = np.random.default_rng(5).integers(0, 256, (32, 32)).astype(np.uint8)
    s = metrics.compute(x, x, x, ["SSIM", "CC", "PSNR"])
    assert s == {"SSIM": pytest.approx(2.0), "CC": pytest.approx(1.0), "PSNR": math.inf}
    a = np.tile([0, 100], (16, 8)).astype(np.uint8)
    b = a.T.copy()
    f = (a.astype(int) + b).astype(np.uint8)
    assert metrics.compute(f, a, b, ["SCD"])["SCD"] == pytest.approx(2.0)
    zero = np.zeros_like(a)
    full = np.full_like(a, 255)
    assert metrics.compute(zero, full, zero, ["PSNR"])["PSNR"] == pytest.approx(10 * math.log10(2))


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(2, 12), st.integers(2, 12))))
def test_basic_metric_bounds(x):
    assert 0.0 <= entropy(x) <= 8.0
    assert standard_deviation_colmean(x) <= standard_deviation(x) + 1e-9
    assert 0.0 <= spatial_frequency_uint8(x) <= math.sqrt(510) + 1e-9
    assert spatial_frequency_uint8(x) <= spatial_frequency(x) + 1e-9
    assert mean_gradient(x) >= 0.0


# ---------------------------------------------------------------------------------------------
# Registry


def test_registry_metadata():
    names = metrics.available()
    assert names[:11] == list(metrics.DEFAULT_METRICS)
    assert set(names) >= {"MI_nats", "SF_uint8", "SF_zeropad", "SD_colmean", "VIFp"}
    assert set(metrics.METRICS) == set(names)
    for name in names:
        info = metrics.get(name)
        assert info.name == name and info.full_name and info.reference and info.convention
        assert isinstance(info.higher_is_better, bool)
        lo, hi = info.value_range
        assert lo < hi
        if info.variant_of is not None:
            assert info.variant_of in metrics.DEFAULT_METRICS
    assert not metrics.get("EN").needs_sources and metrics.get("MI").needs_sources
    assert metrics.get("EN").value_range == (0.0, 8.0)
    assert metrics.get("SD_colmean").variant_of == "SD"
    assert metrics.get("qabf") is metrics.get("Qabf")


def test_unknown_names_raise_and_list_valid_ones():
    x = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match=r"unknown metric name\(s\) 'ENX'.*valid names: EN, SD, SF"):
        metrics.compute(x, x, x, names=["EN", "ENX"])
    with pytest.raises(ValueError, match="valid names"):
        metrics.get("nope")


def test_metric_object_is_callable_and_sources_are_required():
    x = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    assert metrics.get("SD")(x) == pytest.approx(np.std(x.astype(float)))
    with pytest.raises(ValueError, match="need both source images"):
        metrics.compute(x, None, x, names=["EN", "MI"])


# ---------------------------------------------------------------------------------------------
# Inputs


@pytest.fixture(scope="module")
def small_pair():
    """A 96 x 128 crop of the bundled TNO pair (uint8 grey) and a fused stand-in."""
    ir, vis = (iio.imread(p)[100:196, 200:328] for p in sample_pair_paths())
    fused = np.maximum(ir, vis)
    return fused, ir, vis


def test_input_types_give_the_same_numbers(small_pair, tmp_path):
    fused, ir, vis = small_pair
    expected = metrics.compute(fused, ir, vis)
    assert set(expected) == set(metrics.DEFAULT_METRICS)

    path = tmp_path / "fused.png"
    iio.imwrite(path, fused)
    t = torch.from_numpy(fused.astype(np.float32) / 255)
    variants = {
        "path": str(path),
        "pathlib": path,
        "tensor HW": t,
        "tensor 1HW": t[None],
        "tensor 3HW": t[None].repeat(3, 1, 1),
        "tensor 1CHW": t[None, None],
        "tensor 13HW": t[None, None].repeat(1, 3, 1, 1),
        "colour uint8": np.repeat(fused[..., None], 3, axis=2),
        "colour float": np.repeat(fused[..., None], 3, axis=2) / 255.0,
        "float64": fused / 255.0,
        "float32": fused.astype(np.float32) / 255,
        "uint16": fused.astype(np.uint16) * 257,
    }
    for label, f in variants.items():
        got = metrics.compute(f, ir, vis)
        assert got == pytest.approx(expected, abs=1e-12), label
    # sources go through the same conversion
    vis_path = tmp_path / "vis.bmp"
    iio.imwrite(vis_path, vis)
    got = metrics.compute(fused, torch.from_numpy(ir / 255.0)[None], vis_path)
    assert got == pytest.approx(expected, abs=1e-12)


def test_colour_is_bt601_luminance_rounded():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [1, 1, 4]]], np.uint8)
    # 76.245, 149.685, 29.07, 18.15, 1.342 -> rounded
    np.testing.assert_array_equal(metrics.to_gray8(rgb), [[76, 150, 29, 18, 1]])
    # ties go up: 0.299*0 + 0.587*0 + 0.114*x = k + 0.5 needs 114 x = 1000 k + 500 -> x = 250 gives 28.5
    np.testing.assert_array_equal(metrics.to_gray8(np.array([[[0, 0, 250]]], np.uint8)), [[29]])
    np.testing.assert_array_equal(metrics.to_gray8(np.array([[0.5 / 255, 1.5 / 255]])), [[1, 2]])


def test_bad_inputs_raise():
    x = np.zeros((50, 60), np.uint8)
    with pytest.raises(ValueError, match=r"fused image is 50x60 \(HxW\) but vis image is 60x50"):
        metrics.compute(x, x, x.T)
    with pytest.raises(ValueError, match=r"fused image is 50x60 \(HxW\) but ir image is 50x61"):
        metrics.compute(x, np.zeros((50, 61), np.uint8), x)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.compute(x.astype(np.float32) + 2, None, None, ["EN"])
    with pytest.raises(ValueError, match="batch"):
        metrics.compute(torch.zeros(2, 1, 50, 60), None, None, ["EN"])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        metrics.compute(np.zeros((50, 60, 2)), None, None, ["EN"])
    with pytest.raises(TypeError):
        metrics.compute([[0, 1]], None, None, ["EN"])


# ---------------------------------------------------------------------------------------------
# Folders and reports


def test_evaluate_folder_and_reports(small_pair, tmp_path):
    fused, ir, vis = small_pair
    dirs = {k: tmp_path / k for k in ("fused", "ir", "vis")}
    for d in dirs.values():
        d.mkdir()
    for i, name in enumerate(["01", "02"]):
        iio.imwrite(dirs["fused"] / f"{name}.png", np.roll(fused, 3 * i, axis=1))
        iio.imwrite(dirs["ir"] / f"{name}.bmp", np.roll(ir, 3 * i, axis=1))
        iio.imwrite(dirs["vis"] / f"{name}.png", np.roll(vis, 3 * i, axis=1))
    iio.imwrite(dirs["ir"] / "99.bmp", ir)  # extra sources are ignored

    per_image, mean = metrics.evaluate_folder(dirs["fused"], dirs["ir"], dirs["vis"], names=["EN", "MI", "Qabf"])
    assert list(per_image) == ["01", "02"] and list(mean) == ["EN", "MI", "Qabf"]
    assert per_image["01"] == pytest.approx(metrics.compute(fused, ir, vis, ["EN", "MI", "Qabf"]))
    assert mean["MI"] == pytest.approx((per_image["01"]["MI"] + per_image["02"]["MI"]) / 2)

    iio.imwrite(dirs["fused"] / "03.png", fused)
    with pytest.raises(ValueError, match=r"without a source partner: 03 \(no ir, no vis\)"):
        metrics.evaluate_folder(dirs["fused"], dirs["ir"], dirs["vis"])

    csv_path = metrics.write_csv(tmp_path / "m.csv", per_image)
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "image,EN,MI,Qabf" and lines[1].startswith("01,")
    json_path = metrics.write_json(tmp_path / "m.json", {"per_image": per_image, "mean": mean})
    assert json.loads(json_path.read_text())["mean"] == pytest.approx(mean)
    table = metrics.markdown_table({"ours": mean, "zero": {"EN": 0.0, "MI": 0.0}}, ["EN", "MI"], mark_best=True)
    assert table.splitlines()[0] == "| method | EN | MI |"
    assert table.splitlines()[3] == "| zero | 0.000 | 0.000 |" and "**" in table.splitlines()[2]


# ---------------------------------------------------------------------------------------------
# Calibration: DIDFuse's released fused images against its published table

PUBLISHED = {  # DIDFuse (IJCAI 2020) table, means over 40 pairs
    "tno": {"EN": 7.006, "MI": 2.347, "SD": 42.657, "SF": 13.126, "VIF": 0.623, "MG": 4.294},
    "roadscene": {"EN": 7.344, "MI": 2.882, "SD": 46.888, "SF": 18.835, "VIF": 0.538, "MG": 5.574},
}
# which of our metrics reproduces each published column
PUBLISHED_AS = {"EN": "EN", "MI": "MI", "SD": "SD_colmean", "SF": "SF_zeropad", "VIF": "VIF", "MG": "MG"}
# REGRESSION PINS, not a correctness check: these means of the standard conventions and of the saturating-uint8 SF
# were produced by this project's own code (they are repeated in normfuse/evaluation.py DIDFUSE_STANDARD and in
# docs/metrics.md). What shows them right is test_standard_conventions_match_reference_formulas below: the same
# means computed here from the definitions written out in numpy, with none of the library's code.
STANDARD = {
    "tno": {"SD": 46.89, "SF": 11.28, "SF_uint8": 6.01},
    "roadscene": {"SD": 50.98, "SF": 14.27, "SF_uint8": 6.79},
}
CALIBRATION_NAMES = ["EN", "MI", "MG", "VIF", "SD", "SD_colmean", "SF", "SF_zeropad", "SF_uint8"]


def _reference_sd_sf(f: np.ndarray) -> dict[str, float]:
    """SD, SF and SF_uint8 of an 8-bit grey image, written out from their definitions (independent of normfuse)."""
    x = f.astype(np.float64)
    dh, dv = np.diff(x, axis=1), np.diff(x, axis=0)  # F(i, j) - F(i, j-1) and F(i, j) - F(i-1, j)
    # MATLAB uint8 arithmetic: a negative difference saturates to 0, a square above 255 saturates to 255
    sat = lambda d: np.minimum(np.maximum(d, 0) ** 2, 255).mean()  # noqa: E731
    return {
        "SD": math.sqrt(((x - x.mean()) ** 2).mean()),  # population standard deviation of the whole image
        "SF": math.sqrt((dh**2).mean() + (dv**2).mean()),  # row and column frequencies over the differences
        "SF_uint8": math.sqrt(sat(dh) + sat(dv)),
    }


def _calibration_sets(data_dir, calibration_dir) -> dict[str, list[tuple]]:
    split = json.loads((data_dir / "roadscene" / "split.json").read_text())
    sets = {
        "tno": [(f"{k:02d}.png", f"{k:02d}.bmp") for k in range(1, 41)],
        "roadscene": [(name.rsplit(".", 1)[0] + ".png", name) for name in split["test"]],
    }
    return {key: [(calibration_dir / key / fused, data_dir / key / "ir" / src, data_dir / key / "vis" / src)
                  for fused, src in pairs] for key, pairs in sets.items()}


@pytest.fixture(scope="module")
def calibration_means(data_dir, calibration_dir):
    means = {}
    for key, triplets in _calibration_sets(data_dir, calibration_dir).items():
        assert len(triplets) == 40
        rows = [metrics.compute(f, ir, vis, CALIBRATION_NAMES) for f, ir, vis in triplets]
        means[key] = {n: float(np.mean([r[n] for r in rows])) for n in CALIBRATION_NAMES}
        refs = [_reference_sd_sf(iio.imread(f)) for f, _, _ in triplets]  # DIDFuse's images are 8-bit grey
        means[key]["reference"] = {n: float(np.mean([r[n] for r in refs])) for n in ("SD", "SF", "SF_uint8")}
    return means


@pytest.mark.parametrize("dataset", ["tno", "roadscene"])
def test_calibration_reproduces_didfuse_table(calibration_means, dataset):
    """Against the published DIDFuse table (an independent reference) to 0.005."""
    ours = calibration_means[dataset]
    for column, published in PUBLISHED[dataset].items():
        assert abs(ours[PUBLISHED_AS[column]] - published) <= 0.005, (column, ours[PUBLISHED_AS[column]], published)


@pytest.mark.parametrize("dataset", ["tno", "roadscene"])
def test_standard_conventions_match_reference_formulas(calibration_means, dataset):
    """SD, SF and SF_uint8 on DIDFuse's 40 images equal the definitions written out above; then the pinned means."""
    ours, reference = calibration_means[dataset], calibration_means[dataset]["reference"]
    for name in ("SD", "SF", "SF_uint8"):
        assert ours[name] == pytest.approx(reference[name], rel=1e-12), name
    # regression pins (see STANDARD): they change only if the images or the definitions do
    for name, value in STANDARD[dataset].items():
        assert reference[name] == pytest.approx(value, abs=0.01), name


def test_float_images_are_checked_by_the_same_rule_as_fusing():
    from normfuse.inputs import prepare

    nan = np.array([[0.0, np.nan]] * 8 * 8).reshape(8, 16)
    for check in (metrics.to_gray8, lambda x: prepare(x, "vis")):
        with pytest.raises(ValueError, match="image contains NaN or Inf values"):
            check(nan)
        with pytest.raises(ValueError, match=r"values in \[0, 255\]; float images must lie in \[0, 1\]"):
            check(np.tile(np.arange(0.0, 256.0, 255.0), (8, 4)))
    # the metrics allow (and clip) rounding error of 1e-6 in a saved fused image; fusing allows none
    near = np.full((8, 8), 1.0 + 5e-7)
    assert metrics.to_gray8(near).max() == 255.0
    with pytest.raises(ValueError, match=r"\[1.0000005, 1.0000005\].*rounding error"):
        prepare(near, "vis")
