"""normfuse evaluate: folder mode on published images, data-set mode with a model and baselines."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from normfuse import NormFuser
from normfuse.baselines import BASELINES, laplacian_pyramid
from normfuse.cli import main
from normfuse.evaluation import dataset_pairs, run_evaluation


def test_folder_mode_reproduces_didfuse_published_numbers(data_dir, calibration_dir, tmp_path):
    out = tmp_path / "m.json"
    rc = main(["evaluate", "--ir", str(data_dir / "tno" / "ir"), "--vis", str(data_dir / "tno" / "vis"),
               "--fused", str(calibration_dir / "tno"), "--json", str(out),
               "--metrics", "EN", "MI", "MG", "VIF"])
    assert rc == 0
    mean = json.loads(out.read_text())["mean"]
    for k, v in {"EN": 7.006, "MI": 2.347, "MG": 4.294, "VIF": 0.623}.items():
        assert mean[k] == pytest.approx(v, abs=0.005), k


def test_dataset_pairs(data_dir):
    tno, rs, llvip = (dataset_pairs(n, data_dir) for n in ("tno", "roadscene", "llvip"))
    assert len(tno) == 40 and len(rs) == 40 and len(llvip) == 12
    assert all(ir.is_file() and vis.is_file() for _, ir, vis in tno + rs + llvip)
    train = set(json.loads((data_dir / "llvip" / "split.json").read_text())["train"])
    assert not train & {ir.name for _, ir, _ in llvip}
    with pytest.raises(ValueError, match="unknown data set"):
        dataset_pairs("flir", data_dir)


def test_dataset_mode_writes_tables_and_figure(data_dir, tmp_path):
    root = tmp_path / "data"
    for sub in ("ir", "vis"):
        (root / "tno" / sub).mkdir(parents=True)
        for n in ("03.bmp", "17.bmp", "21.bmp"):
            os.symlink(data_dir / "tno" / sub / n, root / "tno" / sub / n)
    methods = {"normfuse": NormFuser.from_pretrained(device="cpu"), "average": BASELINES["average"]}
    means = run_evaluation(methods, ("tno",), tmp_path / "ev", root, names=("EN", "SD", "SF", "VIF", "MI", "MG"),
                           progress=False)
    assert set(means["tno"]) == {"normfuse", "average"}
    assert sorted(p.name for p in (tmp_path / "ev" / "tno" / "normfuse").iterdir()) == ["03.png", "17.png", "21.png"]
    md = (tmp_path / "ev" / "metrics.md").read_text()
    assert "letter: NormFuse" in md and "| normfuse |" in md
    assert "- letter: NormFuse: published: the NormFuse letter's Table 1" in md  # each reference row's provenance
    # averaging lowers contrast: a real property of the baseline, not a fixed number
    assert means["tno"]["average"]["SD"] < means["tno"]["normfuse"]["SD"]
    # the robustness figures are the worst pair of the set
    per_image = json.loads((tmp_path / "ev" / "metrics.json").read_text())["per_image"]["tno"]["normfuse"]
    assert means["tno"]["normfuse"]["IRshare (min)"] == min(r["IRshare"] for r in per_image.values())
    assert means["tno"]["normfuse"]["CRUSH (max)"] == max(r["CRUSH"] for r in per_image.values())
    assert means["tno"]["average"]["IRshare (min)"] == pytest.approx(0.5, abs=0.01)  # the average is half of each
    # the fidelity measures: mean and worst pair; the average is softer than its sharper source
    assert means["tno"]["normfuse"]["HPAMP (max)"] == max(r["HPAMP"] for r in per_image.values())
    assert means["tno"]["average"]["HPAMP (max)"] < 1.0 and "HALO (max)" in means["tno"]["average"]
    if pytest.importorskip("matplotlib"):
        assert (tmp_path / "ev" / "metrics.png").stat().st_size > 5000
        assert (tmp_path / "ev" / "contact_sheet.png").stat().st_size > 5000


def test_laplacian_pyramid_keeps_strong_details(tno_pair):
    ir, vis = (a.astype(np.float64) / 255 for a in tno_pair)
    fused = laplacian_pyramid(ir, vis)
    assert fused.shape == ir.shape and 0 <= fused.min() and fused.max() <= 1
    grad = lambda a: np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert grad(fused) > grad(BASELINES["average"](ir, vis))
    np.testing.assert_allclose(laplacian_pyramid(ir, ir), ir, atol=1e-9)


def test_robustness_metrics_on_a_real_night_pair(data_dir):
    from normfuse import metrics
    from normfuse.io import read_image, to_gray

    stem, ir_path, vis_path = dataset_pairs("llvip", data_dir)[0]
    ir, vis = (np.rint(to_gray(read_image(p)) * 255).astype(np.uint8) for p in (ir_path, vis_path))
    # the maximum keeps every bright pixel; a fused image darkened 40x crushes the night scene's mid-tones
    assert metrics.compute(np.maximum(ir, vis).astype(np.uint8), ir, vis, ["CRUSH"])["CRUSH"] == 0.0
    dark = (np.maximum(ir, vis) // 40).astype(np.uint8)
    assert metrics.compute(dark, ir, vis, ["CRUSH"])["CRUSH"] > 0.1
    # the IR image carries all of its warm targets, the visible none, a 3:1 blend about three quarters
    share = lambda f: metrics.compute(np.rint(f).astype(np.uint8), ir, vis, ["IRshare"])["IRshare"]  # noqa: E731
    assert share(ir) == pytest.approx(1.0, abs=1e-9) and share(vis) == pytest.approx(0.0, abs=1e-9)
    assert share(0.75 * ir.astype(float) + 0.25 * vis) == pytest.approx(0.75, abs=0.01)
    assert not metrics.get("CRUSH").higher_is_better and metrics.get("IRshare").higher_is_better


def test_reference_rows_without_a_command_are_marked_external():
    """LLVIP rows (other methods' released weights, fused images not shipped) are labelled external everywhere."""
    from normfuse.evaluation import EXTERNAL, LLVIP_REFERENCE, provenance, reference_rows

    assert LLVIP_REFERENCE and all(name.endswith(EXTERNAL) for name in reference_rows("llvip"))
    assert all(provenance(n).startswith("external reference values") for n in reference_rows("llvip"))
    for ds in ("tno", "roadscene"):  # published table and images shipped in the calibration folder: not external
        assert not any(n.endswith(EXTERNAL) for n in reference_rows(ds))
        assert all("external" not in provenance(n) for n in reference_rows(ds))


def _tno_subset(data_dir, root, names=("03.bmp", "17.bmp")):
    for sub in ("ir", "vis"):
        (root / "tno" / sub).mkdir(parents=True)
        for n in names:
            os.symlink(data_dir / "tno" / sub / n, root / "tno" / sub / n)
    return root


def test_evaluate_without_matplotlib_says_which_figures_it_did_not_write(data_dir, tmp_path, monkeypatch, capsys):
    root = _tno_subset(data_dir, tmp_path / "data")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    rc = main(["evaluate", "--data", str(root), "--datasets", "tno", "--methods", "average", "--out",
               str(tmp_path / "ev"), "--metrics", "EN", "SD"])
    assert rc == 0
    note = "matplotlib is not installed: metrics.png and contact_sheet.png not written (pip install 'normfuse[plot]')"
    out = capsys.readouterr()
    assert note in out.out and f"warning: {note}" in out.err  # in the printed metrics.md, and as a warning
    with pytest.warns(UserWarning, match=note.split(" (")[0]):  # the library call warns
        run_evaluation({"average": BASELINES["average"]}, ("tno",), tmp_path / "ev2", root, names=("EN",),
                       progress=False)
    assert not (tmp_path / "ev" / "metrics.png").exists() and not (tmp_path / "ev" / "contact_sheet.png").exists()
