"""The shipped models: the registry, loading by name, and the default model on the scenes that broke the letter's."""

from __future__ import annotations

import numpy as np
import pytest

from normfuse import DEFAULT_MODEL, NormFuser, list_models, metrics
from normfuse.io import read_image, to_gray
from normfuse.models import get_model_info
from normfuse.samples import sample_pair_paths
from normfuse.weights import ModelNotFoundError


def test_list_models_names_the_default_and_the_letter_model():
    models = {m.name: m for m in list_models()}
    assert DEFAULT_MODEL == "normfuse-faithful" and list_models()[0].default
    assert {"normfuse-faithful", "normfuse-robust", "normfuse-letter"} <= set(models)
    for m in models.values():
        assert m.description and m.training_data
        assert (m.folder / "model.safetensors").is_file() and (m.folder / "README.md").is_file()
        assert m.name in (m.folder / "README.md").read_text(encoding="utf-8")
    assert "RoadScene" in models["normfuse-letter"].training_data
    assert "LLVIP" in models["normfuse-robust"].training_data and "LLVIP" in models[DEFAULT_MODEL].training_data


def test_from_pretrained_by_name():
    default = NormFuser.from_pretrained(device="cpu", precision="fp32")
    by_name = NormFuser.from_pretrained(DEFAULT_MODEL, device="cpu", precision="fp32")
    ir, vis = sample_pair_paths()
    np.testing.assert_array_equal(default.fuse(ir, vis), by_name.fuse(ir, vis))
    letter = NormFuser.from_pretrained("normfuse-letter", device="cpu")
    assert str(letter.config.fusion) == "sum:sum:sum"  # the letter's rule: every feature summed
    with pytest.raises(ModelNotFoundError, match="normfuse-faithful"):
        NormFuser.from_pretrained("normfuse-nonexistent", device="cpu")
    with pytest.raises(KeyError, match="normfuse-letter"):
        get_model_info("nope")


def test_a_name_wins_over_a_folder_of_the_same_name(tmp_path, monkeypatch):
    (tmp_path / "normfuse-letter").mkdir()  # an unrelated folder in the current directory
    monkeypatch.chdir(tmp_path)
    assert NormFuser.from_pretrained("normfuse-letter", device="cpu").config.width == 16


def _night_pair(data_dir):
    ir = np.rint(to_gray(read_image(data_dir / "llvip" / "ir" / "010001.jpg")) * 255).astype(np.uint8)
    vis = read_image(data_dir / "llvip" / "vis" / "010001.jpg")
    return ir, vis


def test_default_keeps_the_crosswalk_and_the_people_of_a_night_scene(data_dir):
    """LLVIP 010001: a dark street with a crosswalk (visible) and people (IR); the letter's model crushes it."""
    ir, vis = _night_pair(data_dir)
    v = np.rint(to_gray(vis) * 255)
    bottom = slice(2 * v.shape[0] // 3, None)  # the crosswalk's stripes
    mg = metrics.get("MG")

    def check(name):
        fused = NormFuser.from_pretrained(name, device="cpu", precision="fp32").fuse(ir, vis)
        s = metrics.compute(fused, ir, vis, ["CRUSH", "IRshare"])
        f = np.rint(to_gray(fused) * 255)
        return s["CRUSH"], s["IRshare"], mg(f[bottom].astype(np.uint8)) / mg(v[bottom].astype(np.uint8))

    crush, share, stripes = check(DEFAULT_MODEL)
    assert crush <= 0.01 and share >= 0.5 and stripes >= 0.6, (crush, share, stripes)
    crush, share, stripes = check("normfuse-letter")
    assert crush > 0.2 and stripes < 0.4, (crush, share, stripes)  # what the default fixes


def test_default_has_no_dark_border():
    """TNO pair 17: the fused border lies between the sources' borders (the letter's model falls below both)."""
    ir, vis = (read_image(p) for p in sample_pair_paths())
    border = np.ones(ir.shape, bool)
    border[8:-8, 8:-8] = False

    def border_mean(name):
        return NormFuser.from_pretrained(name, device="cpu", precision="fp32").fuse(ir, vis)[border].mean()

    low, high = sorted((ir[border].mean(), vis[border].mean()))
    assert low <= border_mean(DEFAULT_MODEL) <= high
    assert border_mean("normfuse-letter") < low


@pytest.mark.parametrize("stem", ["FLIR_09488", "FLIR_video_03374"])
def test_default_keeps_the_sky_and_the_warm_targets_as_sharp_as_the_sharper_source(data_dir, stem):
    """Two RoadScene test pairs with a bright sky over a cold thermal background and warm people and cars.
    The default keeps the sky (HIGHLIGHT <= 10 grey levels; the average loses ~75), the warm targets
    (IRshare >= 0.5; the visible image has 0) and the sharper source's detail without sharpening it
    (HPAMP in [0.9, 1.2]; the maximum 0.80, the average 0.57, the visible image 0.52, the previous
    default 1.4 to 1.6). Measured values are in the model card."""
    from normfuse.evaluation import dataset_pairs

    _, ir_path, vis_path = next(p for p in dataset_pairs("roadscene", data_dir) if p[0] == stem)
    ir, vis = read_image(ir_path), read_image(vis_path)
    names = ["HIGHLIGHT", "IRshare", "HPAMP"]

    def ok(fused) -> bool:
        s = metrics.compute(fused, ir, vis, names)
        return s["HIGHLIGHT"] <= 10 and s["IRshare"] >= 0.5 and 0.9 <= s["HPAMP"] <= 1.2

    assert ok(NormFuser.from_pretrained(device="cpu", precision="fp32").fuse(ir, vis))
    a, b = (np.rint(to_gray(x) * 255) for x in (ir, vis))
    for trivial in ((a + b) / 2, np.maximum(a, b), b):  # what a trivial fuser gives fails it
        assert not ok(np.rint(trivial).astype(np.uint8))
    assert not ok(NormFuser.from_pretrained("normfuse-robust", device="cpu", precision="fp32").fuse(ir, vis))
