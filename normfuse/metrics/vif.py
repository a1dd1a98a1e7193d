"""Visual information fidelity: the fusion VIF (VIFF) of Han et al. and pixel-domain VIFp.

Both are built on the same pixel-domain, four-scale Gaussian model of Sheikh
and Bovik ("Image information and visual quality", IEEE TIP 15, 2006):

* scale ``s = 1..4`` uses an ``N x N`` Gaussian window, ``N = 2^(5-s) + 1``
  (17, 9, 5, 3), standard deviation ``N / 5``, normalised to sum 1;
* before scales 2..4 both images are filtered with that scale's window
  ("valid" part only, no padding) and subsampled by 2 in each direction;
* local means, variances and the covariance are "valid" window averages;
  negative variances are set to 0; the gain ``g = s12 / s11`` and the
  distortion variance ``sv = s22 - g s12`` of the model ``F = g S + V`` are
  fixed up where the source or fused window is flat (variance < 1e-10) and
  where ``g < 0`` (then ``g = 0, sv = s22``); ``sv`` is floored at a small
  positive value;
* per pixel, the information with distortion is ``VID = log10(1 + g^2 s11 / (sv + sn))``
  and without distortion ``VIND = log10(1 + s11 / sn)``, ``sn`` the visual noise variance.

:func:`viff` (metric ``VIF``) is Han, Cai, Cao, Xu, "A new image fusion
performance metric based on visual information fidelity", Information Fusion
14 (2013), as in its authors' public MATLAB code: ``sn = 0.005 * 255^2``; at
every pixel of every scale it keeps the VID and VIND of the source whose gain
``g`` is *smaller* (ties: the visible image, i.e. the second source); per scale
``(sum VID + C n) / (sum VIND + C n)`` with ``C = 1e-7`` over the ``n`` pixels;
the result is the weighted sum of the four scale ratios with weights
``[1, 0, 0.15, 1] / 2.15``.

:func:`vifp` is Sheikh and Bovik's pixel-domain VIF of one reference and one
distorted image, ``sn = 2``, ``sum VID / sum VIND`` pooled over all scales; the
registered ``VIFp`` metric sums it over both sources.

Images must be at least 41 x 41 pixels (so that the fourth scale is not empty).

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 256, (64, 64)).astype(float)
    >>> round(viff(x, x, x), 6), round(vifp(x, x), 6)
    (1.0, 1.0)
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from .registry import register

__all__ = ["viff", "vifp", "fusion_vifp", "VIFF_NOISE_VAR", "VIFF_SCALE_WEIGHTS", "VIFP_NOISE_VAR"]

#: Visual noise variance of VIFF (Han et al.): 0.005 * 255^2.
VIFF_NOISE_VAR = 0.005 * 255.0**2
#: Scale weights of VIFF (normalised to sum 1).
VIFF_SCALE_WEIGHTS = (1 / 2.15, 0.0, 0.15 / 2.15, 1 / 2.15)
#: Visual noise variance of Sheikh-Bovik's VIFp.
VIFP_NOISE_VAR = 2.0
_VIFF_C = 1e-7
_FLAT = 1e-10
_MIN_SIZE = 41
_SCALES = 4


def _window_1d(scale: int) -> np.ndarray:
    """The 1-D factor of the normalised ``N x N`` Gaussian of ``scale`` (0-based): ``N = 2^(4-scale) + 1``."""
    n = 2 ** (_SCALES - scale) + 1
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    w = np.exp(-(x**2) / (2.0 * (n / 5.0) ** 2))
    return w / w.sum()


def _filter_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable window average, keeping only the part where the window lies inside the image."""
    r = len(w) // 2
    y = correlate1d(x, w, axis=0, mode="constant")
    y = correlate1d(y, w, axis=1, mode="constant")
    return y[r : x.shape[0] - r, r : x.shape[1] - r]


def _pyramid(x: np.ndarray) -> list[np.ndarray]:
    """The image at the four scales (scale 1 is the image itself)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < _MIN_SIZE:
        raise ValueError(f"VIF needs a 2-D image of at least {_MIN_SIZE}x{_MIN_SIZE} pixels, got shape {x.shape}")
    levels = [x]
    for s in range(1, _SCALES):
        levels.append(_filter_valid(levels[-1], _window_1d(s))[::2, ::2])
    return levels


def _local_stats(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and (uncorrected) variance of ``x`` under window ``w``."""
    mu = _filter_valid(x, w)
    return mu, _filter_valid(x * x, w) - mu * mu


def _information_maps(
    ref: np.ndarray, dist: np.ndarray, w: np.ndarray, dist_stats, noise_var: float, sv_floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel VID, VIND and gain g of ``dist`` as a distorted ``ref`` at one scale."""
    mu1, s11 = _local_stats(ref, w)
    mu2, s22 = dist_stats
    s12 = _filter_valid(ref * dist, w) - mu1 * mu2
    s11 = np.maximum(s11, 0.0)
    s22 = np.maximum(s22, 0.0)

    g = s12 / (s11 + _FLAT)
    sv = s22 - g * s12
    flat_ref = s11 < _FLAT
    g = np.where(flat_ref, 0.0, g)
    sv = np.where(flat_ref, s22, sv)
    s11 = np.where(flat_ref, 0.0, s11)
    flat_dist = s22 < _FLAT
    g = np.where(flat_dist, 0.0, g)
    sv = np.where(flat_dist, 0.0, sv)
    negative = g < 0
    sv = np.where(negative, s22, sv)
    g = np.where(negative, 0.0, g)
    sv = np.maximum(sv, sv_floor)

    vid = np.log10(1.0 + g * g * s11 / (sv + noise_var))
    vind = np.log10(1.0 + s11 / noise_var)
    return vid, vind, g


@register(
    "VIF",
    full_name="visual information fidelity for fusion (VIFF)",
    higher_is_better=True,
    value_range=(0.0, float("inf")),
    needs_sources=True,
    reference="Y. Han, Y. Cai, Y. Cao, X. Xu, 'A new image fusion performance metric based on visual "
    "information fidelity', Information Fusion 14 (2013) 127-135; as the authors' MATLAB VIFF_Public.m",
    convention="4-scale pixel-domain Gaussian VIF model (Sheikh-Bovik), noise variance 0.005*255^2; per pixel "
    "the source with the smaller gain g is kept (ties: visible); per-scale sum(VID+C)/sum(VIND+C), C=1e-7; "
    "scales weighted [1, 0, 0.15, 1]/2.15",
)
def viff(f, a, b) -> float:
    """Fusion VIF (VIFF) of fused ``f`` with sources ``a`` (IR) and ``b`` (visible).

    Examples:
        >>> x = np.tile(np.arange(64.0) * 4, (64, 1))
        >>> round(viff(x, x, x), 6)     # fused identical to both sources
        1.0
    """
    pf, pa, pb = _pyramid(f), _pyramid(a), _pyramid(b)
    total = 0.0
    for s, weight in enumerate(VIFF_SCALE_WEIGHTS):
        if weight == 0.0:
            continue
        w = _window_1d(s)
        dist_stats = _local_stats(pf[s], w)
        vid_a, vind_a, g_a = _information_maps(pa[s], pf[s], w, dist_stats, VIFF_NOISE_VAR, _FLAT)
        vid_b, vind_b, g_b = _information_maps(pb[s], pf[s], w, dist_stats, VIFF_NOISE_VAR, _FLAT)
        use_a = g_a < g_b
        vid = np.where(use_a, vid_a, vid_b)
        vind = np.where(use_a, vind_a, vind_b)
        n = vid.size
        total += weight * (vid.sum() + _VIFF_C * n) / (vind.sum() + _VIFF_C * n)
    return float(total)


def vifp(ref, dist) -> float:
    """Sheikh-Bovik pixel-domain VIF of ``dist`` against ``ref`` (noise variance 2, four scales pooled).

    Returns NaN when ``ref`` is flat at every scale (no information to preserve).

    Examples:
        >>> x = np.tile(np.arange(64.0) * 4, (64, 1))
        >>> round(vifp(x, x), 6), round(vifp(x, np.full_like(x, 128.0)), 6)
        (1.0, 0.0)
    """
    pr, pd = _pyramid(ref), _pyramid(dist)
    num = den = 0.0
    for s in range(_SCALES):
        w = _window_1d(s)
        vid, vind, _ = _information_maps(
            pr[s], pd[s], w, _local_stats(pd[s], w), VIFP_NOISE_VAR, np.finfo(np.float64).eps
        )
        num += vid.sum()
        den += vind.sum()
    return float(num / den) if den > 0 else float("nan")


@register(
    "VIFp",
    full_name="pixel-domain visual information fidelity, summed over both sources",
    higher_is_better=True,
    value_range=(0.0, float("inf")),
    needs_sources=True,
    reference="H. R. Sheikh, A. C. Bovik, 'Image information and visual quality', IEEE Trans. Image Process. "
    "15 (2006) 430-444 (vifp_mscale.m)",
    convention="VIFp(A, F) + VIFp(B, F); each: 4-scale pixel-domain Gaussian model, noise variance 2, "
    "sum VID / sum VIND over all scales",
    variant_of="VIF",
)
def fusion_vifp(f, a, b) -> float:
    """``VIFp(A, F) + VIFp(B, F)``.

    Examples:
        >>> x = np.tile(np.arange(64.0) * 4, (64, 1))
        >>> round(fusion_vifp(x, x, x), 6)
        2.0
    """
    return vifp(a, f) + vifp(b, f)
