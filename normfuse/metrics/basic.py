"""Metrics of the fused image alone: EN, SD, SF, MG, and the SD / SF variants papers use.

All functions take an 8-bit grey image as a 2-D array on the 0-255 scale
(see :func:`normfuse.metrics.images.to_gray8`) and compute in float64.

Examples:
    >>> import numpy as np
    >>> ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    >>> entropy(ramp), standard_deviation(np.array([[0, 2]]))
    (8.0, 1.0)
"""

from __future__ import annotations

import numpy as np

from .registry import register

__all__ = [
    "histogram256",
    "entropy",
    "standard_deviation",
    "standard_deviation_colmean",
    "spatial_frequency",
    "spatial_frequency_uint8",
    "spatial_frequency_zeropad",
    "mean_gradient",
]

_INF = float("inf")


def _f64(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {a.shape}")
    return a


def histogram256(f) -> np.ndarray:
    """Counts of the grey levels 0..255 of an 8-bit grey image (values are rounded first).

    Examples:
        >>> histogram256(np.array([[0, 0, 255]]))[[0, 255]]
        array([2, 1])
    """
    levels = np.clip(np.rint(_f64(f)), 0, 255).astype(np.intp).ravel()
    return np.bincount(levels, minlength=256)


@register(
    "EN",
    full_name="entropy",
    higher_is_better=True,
    value_range=(0.0, 8.0),
    needs_sources=False,
    reference="J. W. Roberts, J. A. van Aardt, F. B. Ahmed, 'Assessment of image fusion procedures using "
    "entropy, image quality, and multispectral classification', J. Appl. Remote Sens. 2 (2008)",
    convention="Shannon entropy in bits, -sum p log2 p over the 256-bin grey-level histogram of F",
)
def entropy(f) -> float:
    """Shannon entropy (bits) of the 256-bin grey-level histogram.

    Examples:
        >>> entropy(np.full((4, 4), 7)), entropy(np.array([[0, 255]]))
        (0.0, 1.0)
    """
    counts = histogram256(f)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


@register(
    "SD",
    full_name="standard deviation",
    higher_is_better=True,
    value_range=(0.0, 127.5),
    needs_sources=False,
    reference="the usual statistical definition; for fusion see J. Ma, Y. Ma, C. Li, 'Infrared and visible image "
    "fusion methods and applications: A survey', Information Fusion 45 (2019)",
    convention="population standard deviation of F over the whole image (divide by M N)",
)
def standard_deviation(f) -> float:
    """Population standard deviation of all pixels.

    Examples:
        >>> standard_deviation(np.array([[0, 0], [4, 4]]))
        2.0
    """
    return float(np.std(_f64(f)))


@register(
    "SD_colmean",
    full_name="standard deviation about column means (DIDFuse table convention)",
    higher_is_better=True,
    value_range=(0.0, 127.5),
    needs_sources=False,
    reference="Z. Zhao et al., 'DIDFuse: Deep image decomposition for infrared and visible image fusion', "
    "IJCAI 2020 (its published SD column)",
    convention="sqrt(mean((F - colmean(F))^2)): each pixel's deviation from the mean of its own column "
    "(what MATLAB's mean(F) returns for a matrix), pooled over the image; <= SD",
    variant_of="SD",
)
def standard_deviation_colmean(f) -> float:
    """Root mean square deviation of each pixel from the mean of its column.

    Examples:
        >>> standard_deviation_colmean(np.array([[0, 0], [4, 4]]))   # rows differ: columns vary
        2.0
        >>> standard_deviation_colmean(np.array([[0, 4], [0, 4]]))   # each column is constant
        0.0
    """
    a = _f64(f)
    return float(np.sqrt(np.mean((a - a.mean(axis=0, keepdims=True)) ** 2)))


@register(
    "SF",
    full_name="spatial frequency",
    higher_is_better=True,
    value_range=(0.0, _INF),
    needs_sources=False,
    reference="A. M. Eskicioglu, P. S. Fisher, 'Image quality measures and their performance', "
    "IEEE Trans. Commun. 43 (1995)",
    convention="sqrt(RF^2 + CF^2); RF^2 = mean of squared horizontal forward differences over the M x (N-1) "
    "array, CF^2 = mean of squared vertical forward differences over the (M-1) x N array",
)
def spatial_frequency(f) -> float:
    """Spatial frequency ``sqrt(RF^2 + CF^2)`` from forward differences (no padding).

    Examples:
        >>> spatial_frequency(np.array([[0, 3], [4, 7]]))   # RF^2 = 9, CF^2 = 16
        5.0
    """
    a = _f64(f)
    rf2 = np.mean(np.diff(a, axis=1) ** 2) if a.shape[1] > 1 else 0.0
    cf2 = np.mean(np.diff(a, axis=0) ** 2) if a.shape[0] > 1 else 0.0
    return float(np.sqrt(rf2 + cf2))


@register(
    "SF_uint8",
    full_name="spatial frequency in saturating 8-bit arithmetic",
    higher_is_better=True,
    value_range=(0.0, float(np.sqrt(510.0))),
    needs_sources=False,
    reference="what MATLAB gives for the SF formula applied to a uint8 image without converting to double",
    convention="as SF, but each forward difference is taken in uint8 (later minus earlier pixel, negative "
    "results saturate to 0) and then squared in uint8 (squares saturate at 255); gives about 6.0 on DIDFuse's "
    "TNO images where SF gives 11.3",
    variant_of="SF",
)
def spatial_frequency_uint8(f) -> float:
    """Spatial frequency as uint8 arithmetic computes it: differences clipped at 0, squares at 255.

    Examples:
        >>> spatial_frequency_uint8(np.array([[0, 3], [4, 1]]))   # rows: 3^2, 0 (-3 saturates); cols: 4^2, 0
        3.5355...
    """
    a = _f64(f)

    def mean_sat_sq(d: np.ndarray) -> float:
        return float(np.mean(np.minimum(np.clip(d, 0.0, 255.0) ** 2, 255.0))) if d.size else 0.0

    return float(np.sqrt(mean_sat_sq(np.diff(a, axis=1)) + mean_sat_sq(np.diff(a, axis=0))))


@register(
    "SF_zeropad",
    full_name="spatial frequency with zero padding (DIDFuse table convention)",
    higher_is_better=True,
    value_range=(0.0, _INF),
    needs_sources=False,
    reference="Z. Zhao et al., 'DIDFuse: Deep image decomposition for infrared and visible image fusion', "
    "IJCAI 2020 (its published SF column)",
    convention="as SF, but F is extended by a row and a column of zeros after its last row/column, so both "
    "difference arrays are M x N and the last difference of each row/column is -F (the output size of "
    "MATLAB's filter2/imfilter/conv2 'same' with a two-tap [1 -1] kernel); the border adds ~1.8 to TNO",
    variant_of="SF",
)
def spatial_frequency_zeropad(f) -> float:
    """Spatial frequency from same-size forward differences of the zero-padded image.

    Examples:
        >>> spatial_frequency_zeropad(np.array([[3]]))   # RF^2 = CF^2 = 3^2
        4.2426...
    """
    a = _f64(f)
    rf2 = np.mean(np.diff(a, axis=1, append=0.0) ** 2)
    cf2 = np.mean(np.diff(a, axis=0, append=0.0) ** 2)
    return float(np.sqrt(rf2 + cf2))


@register(
    "MG",
    full_name="mean (average) gradient, AG",
    higher_is_better=True,
    value_range=(0.0, _INF),
    needs_sources=False,
    reference="G. Cui, H. Feng, Z. Xu, Q. Li, Y. Chen, 'Detail preserved fusion of visible and infrared images "
    "using regional saliency extraction and multi-scale image decomposition', Opt. Commun. 341 (2015)",
    convention="gx, gy = numpy.gradient(F) (MATLAB gradient: central differences inside, one-sided at the "
    "borders); sum of sqrt((gx^2 + gy^2) / 2) divided by (M-1)(N-1)",
)
def mean_gradient(f) -> float:
    """Average gradient ``sum(sqrt((gx^2 + gy^2) / 2)) / ((M-1)(N-1))`` with ``numpy.gradient``.

    Examples:
        >>> mean_gradient(np.array([[0, 2], [0, 2]]))   # gx = 2, gy = 0 everywhere: 4 * sqrt(2) / 1
        5.6568...
    """
    a = _f64(f)
    m, n = a.shape
    if m < 2 or n < 2:
        raise ValueError(f"MG needs an image of at least 2x2 pixels, got {m}x{n}")
    gy, gx = np.gradient(a)
    return float(np.sqrt((gx**2 + gy**2) / 2.0).sum() / ((m - 1) * (n - 1)))
