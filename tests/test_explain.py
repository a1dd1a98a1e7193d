"""The feature-map figure (letter Figs. 3-4) on a real pair."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_checks import assert_fuses

from normfuse import NormFuser
from normfuse.explain import feature_figure, pean_maps


def test_pean_maps_are_consistent(tno_pair):
    fuser = NormFuser.from_pretrained(device="cpu", precision="fp32")
    maps = pean_maps(fuser, *tno_pair, channel=0)
    assert set(maps) == {"IR", "VIS", "fused", "S_I", "S_V", "D_I", "D_V", "BN(h)", "gamma", "beta", "gamma*BN(h)"}
    for m in maps.values():
        assert m.shape == tno_pair[0].shape and np.isfinite(m).all()
    np.testing.assert_allclose(maps["gamma*BN(h)"], maps["gamma"] * maps["BN(h)"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(maps["fused"] * 255, fuser.fuse(*tno_pair), atol=0.51)
    assert_fuses(maps["fused"], *tno_pair)  # the map shown as "fused" is a fusion of the pair


def _drawn_panels(monkeypatch) -> list:
    """Record ``(axes, array)`` for every image the figure draws; the panel's title names it afterwards."""
    from matplotlib.axes import Axes

    drawn: list = []
    imshow = Axes.imshow

    def spy(self, x, *args, **kwargs):
        drawn.append((self, np.asarray(x)))
        return imshow(self, x, *args, **kwargs)

    monkeypatch.setattr(Axes, "imshow", spy)
    return drawn


def test_feature_figure_and_command(tno_pair, tmp_path, data_dir, monkeypatch):
    pytest.importorskip("matplotlib")
    import imageio.v3 as iio

    from normfuse.cli import main

    drawn = _drawn_panels(monkeypatch)
    fuser = NormFuser.from_pretrained(device="cpu")
    out = feature_figure(fuser, *tno_pair, tmp_path / "maps.png")
    assert iio.imread(out).ndim == 3
    panels = {ax.get_title(): x for ax, x in drawn}
    assert len(panels) == 11
    np.testing.assert_array_equal(panels["IR"] * 255, tno_pair[0])
    np.testing.assert_array_equal(panels["VIS"] * 255, tno_pair[1])
    assert_fuses(panels["fused"], *tno_pair)
    drawn.clear()
    pair = [data_dir / "tno" / sub / "17.bmp" for sub in ("ir", "vis")]
    rc = main(["explain", *map(str, pair), "-o", str(tmp_path / "cli.png")])
    assert rc == 0 and (tmp_path / "cli.png").stat().st_size > 10_000
    assert_fuses({ax.get_title(): x for ax, x in drawn}["fused"], *tno_pair)
