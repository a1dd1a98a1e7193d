"""The feature-map figure (letter Figs. 3-4) on a real pair."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_feature_figure_and_command(tno_pair, tmp_path, data_dir):
    pytest.importorskip("matplotlib")
    import imageio.v3 as iio

    from normfuse.cli import main

    fuser = NormFuser.from_pretrained(device="cpu")
    out = feature_figure(fuser, *tno_pair, tmp_path / "maps.png")
    assert iio.imread(out).ndim == 3
    rc = main(["explain", str(data_dir / "tno" / "ir" / "03.bmp"), str(data_dir / "tno" / "vis" / "03.bmp"),
               "-o", str(tmp_path / "cli.png")])
    assert rc == 0 and (tmp_path / "cli.png").stat().st_size > 10_000
