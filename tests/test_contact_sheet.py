"""The contact sheet's 1:1 crops are picked by rule: constructed pairs whose best crop is known."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np

from normfuse.contact_sheet import CROP, crop_mosaic, pick_crops


def _pair(tmp_path, name, ir, vis):
    for sub, img in (("ir", ir), ("vis", vis)):
        (tmp_path / sub).mkdir(exist_ok=True)
        iio.imwrite(tmp_path / sub / f"{name}.png", img.astype(np.uint8))
    return name, tmp_path / "ir" / f"{name}.png", tmp_path / "vis" / f"{name}.png"


def test_pick_crops_finds_the_sky_edge_and_the_lamp(tmp_path):
    rng = np.random.default_rng(0)
    day_vis = np.clip(rng.normal(120, 20, (320, 400)), 0, 255)
    day_vis[:150] = 255  # a saturated sky over the top rows
    day = _pair(tmp_path, "day", np.full((320, 400), 3), day_vis)
    night_vis = np.full((320, 400), 15.0)
    night_vis[200:216, 300:316] = 255  # a lamp
    night = _pair(tmp_path, "night", np.full((320, 400), 90), night_vis)
    crops = {kind: (pair[0], yx) for kind, pair, yx in pick_crops([day, night])}
    stem, (y, x) = crops["saturated sky"]
    assert stem == "day" and y < 150 < y + CROP  # the crop shows the sky's edge
    stem, (y, x) = crops["lamp at night"]
    assert stem == "night" and y <= 200 and 216 <= y + CROP and x <= 300 and 316 <= x + CROP
    # written unscaled: IR, visible and one method per row
    out = crop_mosaic([("lamp", night, crops["lamp at night"][1])], {"n": {"vis": tmp_path / "vis"}}, {"night": "n"},
                      tmp_path / "crops.png")
    mosaic = iio.imread(out)
    assert mosaic.shape == (CROP, 3 * CROP + 2 * 4)
    y, x = crops["lamp at night"][1]
    np.testing.assert_array_equal(mosaic[:, CROP + 4: 2 * CROP + 4], night_vis[y: y + CROP, x: x + CROP])
