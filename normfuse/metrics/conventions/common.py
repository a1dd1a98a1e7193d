"""Building blocks shared by the reference-code conventions (written from the formulas, not copied).

* :func:`round_away`: MATLAB's ``round`` (halves away from zero);
* :func:`entropy_bits`, :func:`joint_entropy_bits`: Shannon entropies of 8-bit levels;
* :func:`corr`: Pearson correlation as MATLAB's ``corr2``;
* :func:`qabf_code`: Xydeas-Petrovic Qabf as the widely copied MATLAB code computes it
  (relative strength ``gF`` at ties), on a chosen pixel scale and dtype;
* :func:`vifp_code`: Sheikh-Bovik ``vifp_mscale`` with a chosen ``sv`` floor and optionally
  the saturating uint8 products a uint8 input gets at the first scale.

Examples:
    >>> import numpy as np
    >>> round_away(np.array([0.5, 1.5, -0.5]))
    array([ 1.,  2., -1.])
"""

from __future__ import annotations

import math

import numpy as np

from ..vif import _filter_valid, _window_1d

__all__ = ["round_away", "entropy_bits", "joint_entropy_bits", "corr", "qabf_code", "vifp_code", "QABF_CONSTANTS"]

#: Xydeas-Petrovic model constants as in the reference codes.
QABF_CONSTANTS = {"Tg": 0.9994, "kg": -15, "Dg": 0.5, "Ta": 0.9879, "ka": -22, "Da": 0.8}

# conv2 kernels of the MATLAB Qabf code (true convolution, zero padding, 'same').
_H3 = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_H1 = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])


def round_away(x) -> np.ndarray:
    """MATLAB ``round``: to the nearest integer, halves away from zero.

    Examples:
        >>> round_away(np.array([2.5, -2.5, 2.4]))
        array([ 3., -3.,  2.])
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _levels(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).astype(np.intp)


def entropy_bits(x) -> float:
    """``-sum p log2 p`` of the 256-bin histogram of whole-number levels 0..255 (MATLAB ``entropy`` of uint8).

    Examples:
        >>> entropy_bits(np.array([[0, 255]]))
        1.0
    """
    counts = np.bincount(_levels(x).ravel(), minlength=256)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def joint_entropy_bits(x, y) -> float:
    """Joint entropy (bits) of two level images with 256 x 256 bins.

    Examples:
        >>> joint_entropy_bits(np.array([[0, 1]]), np.array([[5, 5]]))
        1.0
    """
    a, b = _levels(x).ravel(), _levels(y).ravel()
    counts = np.bincount(a * 256 + b, minlength=256 * 256)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def corr(x, y) -> float:
    """Pearson correlation over all pixels, ``sum(dx dy) / sqrt(sum(dx^2) sum(dy^2))`` (``corr2``).

    Examples:
        >>> corr(np.array([[0.0, 1.0, 2.0]]), np.array([[2.0, 4.0, 6.0]]))
        1.0
    """
    x = np.asarray(x)
    y = np.asarray(y)
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / np.sqrt((dx * dx).sum() * (dy * dy).sum()))


def _conv2_same(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``conv2(x, h, 'same')`` for a 3 x 3 ``h``, zero padding, in ``x``'s dtype.

    ``C(i, j) = sum h(m, n) x(i - m + 1, j - n + 1)``, the terms added in MATLAB's column-major
    order of ``h`` (zero taps skipped: adding an exact 0 changes nothing).
    """
    p = np.pad(x, 1)
    rows, cols = x.shape
    out = np.zeros_like(x)
    for n in range(3):
        for m in range(3):
            if h[m, n] != 0:
                out = out + x.dtype.type(h[m, n]) * p[2 - m : 2 - m + rows, 2 - n : 2 - n + cols]
    return out


def _sobel_code(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``conv2(x, h3, 'same')`` and ``conv2(x, h1, 'same')`` (zero padding), in ``x``'s dtype."""
    return _conv2_same(x, _H3), _conv2_same(x, _H1)


def _strength_orientation(x: np.ndarray, scale: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    x = x / 255.0 if scale == 1 / 255 else x * scale  # im2double divides (x * (1/255) rounds differently)
    sx, sy = _sobel_code(x.astype(dtype))
    g = np.sqrt(sx * sx + sy * sy)
    zero = sx == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(zero, np.asarray(math.pi / 2, dtype=dtype), np.arctan(sy / np.where(zero, 1, sx)))
    return g, alpha.astype(dtype, copy=False)


def _preservation_code(g_s, a_s, g_f, a_f) -> np.ndarray:
    c = QABF_CONSTANTS
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(g_s > g_f, g_f / g_s, np.where(g_s == g_f, g_f, g_s / g_f))
    rel = rel.astype(g_s.dtype, copy=False)
    orient = 1 - np.abs(a_s - a_f) / (math.pi / 2)
    q_g = c["Tg"] / (1 + np.exp(c["kg"] * (rel - c["Dg"])))
    q_a = c["Ta"] / (1 + np.exp(c["ka"] * (orient - c["Da"])))
    return q_g * q_a


def qabf_code(f, a, b, scale: float = 1.0, dtype=np.float64) -> float:
    """Qabf as the MATLAB ``analysis_Qabf.m`` / ``Qabf.m`` family computes it.

    The 8-bit images are multiplied by ``scale`` (``1``: 0-255, ``1 / 255``: ``im2double``,
    ``255``: VIFB's ``255 * im2double(double(x))``) and cast to ``dtype``; all arithmetic
    stays in ``dtype``.  Sobel responses with zero padding, orientation ``atan(sy / sx)``
    (``pi / 2`` where ``sx == 0`` exactly), relative strength ``gF`` (not 1) where
    ``gS == gF``, constants :data:`QABF_CONSTANTS`, weights ``gA``, ``gB``.

    The Sobel responses are ``conv2`` of the scaled image, terms added in column-major kernel
    order.  On 0-255 (and 255 x) scales every response is an exact integer; for ``scale = 1 / 255``
    terms that cancel in exact arithmetic can leave ``1e-17`` instead of 0, which flips the
    ``sx == 0`` test and ties at some pixels.  Which pixels depends on the summation order, which
    MATLAB does not specify: other orders (or exact arithmetic) move this Qabf by up to ~0.5 %.

    Examples:
        >>> x = np.tile(np.arange(32.0) * 8, (32, 1))
        >>> round(qabf_code(x, x, x), 4), round(qabf_code(x, x, x, scale=1 / 255), 4)
        (0.9753, 0.5033)
    """
    (g_f, a_f), (g_a, a_a), (g_b, a_b) = (_strength_orientation(v, scale, dtype) for v in (f, a, b))
    q_af = _preservation_code(g_a, a_a, g_f, a_f)
    q_bf = _preservation_code(g_b, a_b, g_f, a_f)
    den = np.sum(g_a + g_b)
    num = np.sum(q_af * g_a + q_bf * g_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(num / den)


def vifp_code(ref, dist, sv_floor: float = 1e-10, uint8_products: bool = False, noise_var: float = 2.0) -> float:
    """``vifp_mscale.m``: Sheikh-Bovik pixel-domain VIF of ``dist`` against ``ref`` (four scales pooled).

    Args:
        ref, dist: 8-bit level images on 0-255.
        sv_floor: ``sv^2`` values ``<= sv_floor`` are set to it (the code's ``1e-10``).
        uint8_products: the first scale's ``ref.*ref``, ``dist.*dist`` and ``ref.*dist`` as uint8
            arithmetic gives them when uint8 images are passed in: saturated at 255.
        noise_var: ``sigma_nsq`` (2).

    Returns NaN when the reference has no variance anywhere (``0 / 0``).

    Examples:
        >>> x = np.tile(np.arange(64.0) * 4, (64, 1))
        >>> round(vifp_code(x, x), 6), round(vifp_code(x, x, uint8_products=True), 4)
        (1.0, 1.0)
    """
    r = np.asarray(ref, dtype=np.float64)
    d = np.asarray(dist, dtype=np.float64)
    if r.ndim != 2 or min(r.shape) < 41:
        raise ValueError(f"VIF needs a 2-D image of at least 41x41 pixels, got shape {r.shape}")
    num = den = 0.0
    for s in range(4):
        w = _window_1d(s)
        if s > 0:
            r = _filter_valid(r, w)[::2, ::2]
            d = _filter_valid(d, w)[::2, ::2]
        rr, dd, rd = r * r, d * d, r * d
        if uint8_products and s == 0:
            rr, dd, rd = (np.minimum(p, 255.0) for p in (rr, dd, rd))
        mu1, mu2 = _filter_valid(r, w), _filter_valid(d, w)
        s11 = _filter_valid(rr, w) - mu1 * mu1
        s22 = _filter_valid(dd, w) - mu2 * mu2
        s12 = _filter_valid(rd, w) - mu1 * mu2
        s11 = np.maximum(s11, 0.0)
        s22 = np.maximum(s22, 0.0)
        g = s12 / (s11 + 1e-10)
        sv = s22 - g * s12
        flat1 = s11 < 1e-10
        g[flat1] = 0.0
        sv[flat1] = s22[flat1]
        s11[flat1] = 0.0
        flat2 = s22 < 1e-10
        g[flat2] = 0.0
        sv[flat2] = 0.0
        neg = g < 0
        sv[neg] = s22[neg]
        g[neg] = 0.0
        sv[sv <= sv_floor] = sv_floor
        num += np.log10(1.0 + g * g * s11 / (sv + noise_var)).sum()
        den += np.log10(1.0 + s11 / noise_var).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(num) / np.float64(den))
