"""The fidelity metrics (HIGHLIGHT, HPAMP, FLATAMP, HALO) on constructed images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from normfuse import metrics


def _m(name, f, a, b):
    return metrics.compute(np.clip(np.rint(f), 0, 255).astype(np.uint8), a.astype(np.uint8), b.astype(np.uint8),
                           [name])[name]


def test_metadata_says_lower_is_better_and_evaluate_adds_them():
    from normfuse.evaluation import FIDELITY

    for name in ("HIGHLIGHT", "HPAMP", "FLATAMP", "HALO"):
        info = metrics.get(name)
        assert not info.higher_is_better and info.needs_sources and info.convention
        assert name in FIDELITY


def test_highlight_is_the_grey_levels_lost_on_a_saturated_sky_over_a_cold_background():
    ir = np.full((40, 40), 3.0)
    vis = np.full((40, 40), 255.0)
    vis[20:] = 120  # ground: not bright, not counted
    fused = np.where(vis == 255, 97.0, 120.0)
    assert _m("HIGHLIGHT", fused, ir, vis) == pytest.approx(158.0)  # the flat 255 over 0 fused to 97
    assert _m("HIGHLIGHT", vis, ir, vis) == 0.0  # the visible image keeps it
    assert _m("HIGHLIGHT", np.full_like(vis, 255), ir, vis) == 0.0  # brighter is no loss
    assert _m("HIGHLIGHT", (ir + vis) / 2, ir, vis) == pytest.approx(126.0)  # the average: half-way to the IR
    warm = np.full_like(ir, 200)  # a warm IR background: not a cold one, so nothing to measure
    assert np.isnan(_m("HIGHLIGHT", fused, warm, vis))
    small = np.full_like(vis, 120)
    small[:7, :7] = 255  # 49 bright pixels: fewer than 50, undefined
    assert np.isnan(_m("HIGHLIGHT", small * 0, ir, small))


def test_hpamp_is_one_for_the_sharper_source_above_for_sharpening_below_for_blur():
    rng = np.random.default_rng(0)
    scene = gaussian_filter(rng.uniform(0, 255, (64, 64)), 1.5)
    a = np.clip(scene * 0.5 + 60, 0, 255).round()
    b = np.clip((scene - scene.mean()) * 3 + 128, 0, 255).round()  # the sharper (higher-contrast) source
    assert _m("HPAMP", b, a, b) == pytest.approx(1.0, abs=1e-9)
    sharpened = b + 1.0 * (b - gaussian_filter(b, 1.0))
    assert _m("HPAMP", sharpened, a, b) > 1.3
    assert _m("HPAMP", gaussian_filter(b, 1.0), a, b) < 0.7
    assert _m("HPAMP", (a + b) / 2, a, b) < 1.0  # the average is softer than its sharper source


def test_flatamp_sees_noise_added_where_both_sources_are_flat():
    rng = np.random.default_rng(1)
    a = np.full((64, 64), 60.0)
    b = np.full((64, 64), 150.0)
    a[:, 32:] = 200  # one edge in each source: the rest is flat
    b[32:, :] = 40
    a += rng.normal(0, 1.0, a.shape)
    b += rng.normal(0, 1.0, b.shape)
    assert _m("FLATAMP", b, a, b) == pytest.approx(1.0, abs=0.15)
    noisy = b + rng.normal(0, 4.0, b.shape)
    assert _m("FLATAMP", noisy, a, b) > 2.5
    # HPAMP over the whole image is dominated by the edges and misses most of it
    assert _m("HPAMP", noisy, a, b) < _m("FLATAMP", noisy, a, b)


def test_halo_measures_rims_outside_both_sources_range_at_strong_edges():
    a = np.full((48, 48), 20.0)
    b = np.full((48, 48), 60.0)
    b[:, 24:] = 220  # a dark tree against a bright sky in the visible image
    assert _m("HALO", b, a, b) == 0.0
    assert _m("HALO", (a + b) / 2, a, b) == 0.0  # blends stay inside the sources' range
    assert _m("HALO", np.maximum(a, b), a, b) == 0.0
    rim = b.copy()
    rim[:, 24:26] = 255  # a white rim on the sky side of the edge: 35 levels above both sources
    rim[:, 22:24] = 0  # and a dark one on the tree side: 20 below both
    value = _m("HALO", rim, a, b)
    near = 8  # columns 20..27 lie within 3 px of the edge (the non-zero Sobel magnitudes: columns 23, 24)
    assert value == pytest.approx((2 * 35 + 2 * 20) / near, rel=0.01)
    assert _m("HALO", a, a, a) == 0.0  # no edge, no halo
