"""Fidelity checks of a fused image: what a person sees at 1:1 and the quality metrics miss.

A fusion metric such as SF or MG rises when an image is sharpened or noise is
added, and none of the letter's metrics notices a bright sky turned grey.  Four
measures, each on the 0-255 grey scale (``A`` the IR image, ``B`` the visible
one, ``F`` the fused image; high-pass ``hp(X) = X - G1(X)``, ``G1`` a Gaussian
blur of sigma 1 with reflected borders):

- ``HIGHLIGHT`` (lower is better): over the pixels where the visible image is
  bright (``B >= 240``) and the IR image much colder (``B - A >= 100``), the
  mean of ``max(0, B - F)`` in grey levels: 0 = highlights kept; NaN when
  fewer than 50 such pixels exist.
- ``HPAMP`` (closer to 1 is better; above 1 = sharpened or noise added):
  ``rms(hp(F)) / max(rms(hp(A)), rms(hp(B)))``.
- ``FLATAMP`` (same reading): ``HPAMP`` restricted to the areas flat in both
  sources (where the local high-pass energy of each source is in its own
  lowest quarter): noise and compression blocks made visible.
- ``HALO`` (lower is better): within 3 pixels of the strongest edges (the top
  5 % of the larger Sobel magnitude of the two sources), the mean of how far
  ``F`` leaves the range of both sources over a 7 x 7 window, in grey levels:
  white rims and dark embossing that neither source has.

Examples:
    >>> import numpy as np
    >>> ir = np.full((40, 40), 3.0); vis = np.full((40, 40), 255.0)   # a saturated sky over a cold background
    >>> highlight_loss(np.full((40, 40), 97.0), ir, vis), highlight_loss(vis, ir, vis)
    (158.0, 0.0)
    >>> rng = np.random.default_rng(0); x = rng.uniform(0, 255, (40, 40))
    >>> round(highpass_amplification(x, x, x / 2), 6)
    1.0
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter, minimum_filter, sobel

from .registry import register

__all__ = ["highlight_loss", "highpass_amplification", "flat_amplification", "halo",
           "BRIGHT_LEVEL", "COLD_MARGIN", "MIN_PIXELS"]

#: HIGHLIGHT: visible pixels at least this bright ...
BRIGHT_LEVEL = 240
#: ... and at least this much brighter than the IR pixel ...
COLD_MARGIN = 100
#: ... and at least this many of them, else the measure is undefined (NaN).
MIN_PIXELS = 50


def _highpass(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x - gaussian_filter(x, 1.0, mode="reflect")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else float("nan")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


@register(
    "HIGHLIGHT",
    full_name="grey levels lost in bright visible areas over a cold IR background",
    higher_is_better=False,
    value_range=(0.0, 255.0),
    needs_sources=True,
    reference="this project (normfuse): skies and lamps turned grey (issue 19)",
    convention=f"mean of max(0, B - F) over pixels with B >= {BRIGHT_LEVEL} and B - A >= {COLD_MARGIN} "
    f"(0-255 scale); NaN when fewer than {MIN_PIXELS} such pixels",
)
def highlight_loss(f, a, b) -> float:
    """Mean darkening of bright visible pixels over a much colder IR image; 8-bit grey arrays."""
    f, a, b = (np.asarray(x, dtype=np.float64) for x in (f, a, b))
    mask = (b >= BRIGHT_LEVEL) & (b - a >= COLD_MARGIN)
    if mask.sum() < MIN_PIXELS:
        return float("nan")
    return float(np.maximum(b[mask] - f[mask], 0.0).mean())


@register(
    "HPAMP",
    full_name="high-pass amplification",
    higher_is_better=False,
    value_range=(0.0, np.inf),
    needs_sources=True,
    reference="this project (normfuse): sharpening and amplified noise (issue 19)",
    convention="rms(X - G(X)) with G a Gaussian blur of sigma 1 (reflect borders); rms of F's over the larger of "
    "A's and B's: 1 = as sharp as the sharper source, above 1 = sharpened or noise added",
)
def highpass_amplification(f, a, b) -> float:
    """High-pass energy of ``f`` over the larger of the sources'; 8-bit grey arrays."""
    return _amplification(_highpass(f), _highpass(a), _highpass(b))


def _amplification(hf: np.ndarray, ha: np.ndarray, hb: np.ndarray) -> float:
    """RMS of the fused high-pass over the larger RMS of the sources' high-passes."""
    return _ratio(_rms(hf), max(_rms(ha), _rms(hb)))


def _flat_mask(ha: np.ndarray, hb: np.ndarray) -> np.ndarray:
    """Pixels where both sources' local high-pass energy (smoothed, sigma 3) is in its own lowest quarter."""
    masks = []
    for h in (ha, hb):
        energy = gaussian_filter(np.square(h), 3.0, mode="reflect")
        masks.append(energy <= np.percentile(energy, 25.0))
    return masks[0] & masks[1]


@register(
    "FLATAMP",
    full_name="high-pass amplification in areas flat in both sources",
    higher_is_better=False,
    value_range=(0.0, np.inf),
    needs_sources=True,
    reference="this project (normfuse): noise and compression blocks made visible (issue 19)",
    convention="HPAMP over the pixels where each source's local high-pass energy (squared high-pass, Gaussian "
    f"sigma 3) is at most its own 25th percentile; NaN when fewer than {MIN_PIXELS} such pixels",
)
def flat_amplification(f, a, b) -> float:
    """:func:`highpass_amplification` over the areas flat in both sources; 8-bit grey arrays."""
    hf, ha, hb = (_highpass(x) for x in (f, a, b))
    flat = _flat_mask(ha, hb)
    if flat.sum() < MIN_PIXELS:
        return float("nan")
    return _amplification(hf[flat], ha[flat], hb[flat])


def _gradient(x: np.ndarray) -> np.ndarray:
    return np.hypot(sobel(x, 0, mode="reflect"), sobel(x, 1, mode="reflect"))


@register(
    "HALO",
    full_name="overshoot around strong edges",
    higher_is_better=False,
    value_range=(0.0, 255.0),
    needs_sources=True,
    reference="this project (normfuse): white rims and dark embossing at edges (issue 19)",
    convention="pixels within 3 px of the top 5 % (non-zero) of max(|Sobel A|, |Sobel B|); mean of max(0, F - hi) + "
    "max(0, lo - F), hi / lo the max / min of both sources over a 7 x 7 window (grey levels)",
)
def halo(f, a, b) -> float:
    """Mean distance of ``f`` outside both sources' local range near their strongest edges; 8-bit grey arrays."""
    f, a, b = (np.asarray(x, dtype=np.float64) for x in (f, a, b))
    g = np.maximum(_gradient(a), _gradient(b))
    edges = (g >= np.percentile(g, 95.0)) & (g > 0)
    if not edges.any():
        return 0.0  # no edge, no halo
    near = maximum_filter(edges, size=7)
    hi = maximum_filter(np.maximum(a, b), size=7, mode="reflect")
    lo = minimum_filter(np.minimum(a, b), size=7, mode="reflect")
    over = np.maximum(f - hi, 0.0) + np.maximum(lo - f, 0.0)
    return float(over[near].mean())
