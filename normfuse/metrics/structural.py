"""Metrics comparing the fused image with each source: SSIM, SCD, CC, PSNR.

Examples:
    >>> import numpy as np
    >>> a = np.array([[0.0, 1, 2, 3]]); b = np.array([[3.0, 1, 2, 0]])
    >>> correlation(a, a), correlation(a, b)
    (1.0, -0.8)
"""

from __future__ import annotations

import numpy as np

from .registry import register

__all__ = ["correlation", "ssim", "fusion_ssim", "scd", "cc", "psnr", "SSIM_OPTIONS"]

#: Keyword arguments given to :func:`skimage.metrics.structural_similarity` (Wang et al.'s 2004 setting).
SSIM_OPTIONS = {"data_range": 255.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def _f64(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {a.shape}")
    return a


def correlation(x, y) -> float:
    """Pearson correlation of all pixels of two images (MATLAB ``corr2``); NaN if either is constant.

    Examples:
        >>> correlation(np.array([[1.0, 2.0]]), np.array([[5.0, 5.0]]))
        nan
    """
    a, b = _f64(x), _f64(y)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} and {b.shape}")
    da, db = a - a.mean(), b - b.mean()
    den = np.sqrt((da * da).sum() * (db * db).sum())
    return float((da * db).sum() / den) if den > 0 else float("nan")


def ssim(x, y) -> float:
    """Mean SSIM of two 8-bit grey images with :data:`SSIM_OPTIONS` (Gaussian 11 x 11 window, sigma 1.5).

    Examples:
        >>> x = np.tile(np.arange(16.0) * 16, (16, 1))
        >>> ssim(x, x)
        1.0
    """
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_f64(x), _f64(y), **SSIM_OPTIONS))


@register(
    "SSIM",
    full_name="structural similarity, summed over both sources",
    higher_is_better=True,
    value_range=(-2.0, 2.0),
    needs_sources=True,
    reference="Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, 'Image quality assessment: from error "
    "visibility to structural similarity', IEEE Trans. Image Process. 13 (2004)",
    convention="SSIM(A, F) + SSIM(B, F); skimage.metrics.structural_similarity with data_range=255, Gaussian "
    "window sigma 1.5 (11 x 11), population covariances, K1=0.01, K2=0.03, mean over the window-valid "
    "interior; no downsampling. Some papers report the average (half of this)",
)
def fusion_ssim(f, a, b) -> float:
    """``SSIM(A, F) + SSIM(B, F)``.

    Examples:
        >>> x = np.tile(np.arange(16.0) * 16, (16, 1))
        >>> fusion_ssim(x, x, x)
        2.0
    """
    return ssim(a, f) + ssim(b, f)


@register(
    "SCD",
    full_name="sum of the correlations of differences",
    higher_is_better=True,
    value_range=(-2.0, 2.0),
    needs_sources=True,
    reference="V. Aslantas, E. Bendes, 'A new image quality metric for image fusion: The sum of the "
    "correlations of differences', AEU Int. J. Electron. Commun. 69 (2015) 1890-1896",
    convention="corr(F - B, A) + corr(F - A, B), Pearson correlation over all pixels (MATLAB corr2); NaN "
    "when a difference image is constant (e.g. F equal to a source)",
)
def scd(f, a, b) -> float:
    """``corr(F - B, A) + corr(F - A, B)``.

    Examples:
        >>> a = np.array([[0.0, 10, 0, 10]]); b = np.array([[0.0, 0, 10, 10]])
        >>> scd(a + b, a, b)     # F keeps both sources completely
        2.0
    """
    F, A, B = _f64(f), _f64(a), _f64(b)
    return correlation(F - B, A) + correlation(F - A, B)


@register(
    "CC",
    full_name="correlation coefficient, averaged over both sources",
    higher_is_better=True,
    value_range=(-1.0, 1.0),
    needs_sources=True,
    reference="as used e.g. by H. Zhang, H. Xu, X. Tian, J. Jiang, J. Ma, 'Image fusion meets deep learning: "
    "A survey and perspective', Information Fusion 76 (2021)",
    convention="(corr(A, F) + corr(B, F)) / 2, Pearson correlation over all pixels (MATLAB corr2)",
)
def cc(f, a, b) -> float:
    """``(corr(A, F) + corr(B, F)) / 2``.

    Examples:
        >>> a = np.array([[0.0, 1, 2, 3]])
        >>> cc(a, a, a[:, ::-1])
        0.0
    """
    return (correlation(a, f) + correlation(b, f)) / 2.0


@register(
    "PSNR",
    full_name="peak signal-to-noise ratio",
    higher_is_better=True,
    value_range=(0.0, float("inf")),
    needs_sources=True,
    reference="as used e.g. by J. Ma, Y. Ma, C. Li, 'Infrared and visible image fusion methods and "
    "applications: A survey', Information Fusion 45 (2019)",
    convention="10 log10(255^2 / ((MSE(A, F) + MSE(B, F)) / 2)) in dB; infinite when F equals both sources",
)
def psnr(f, a, b) -> float:
    """``10 log10(255^2 / ((MSE(A, F) + MSE(B, F)) / 2))``.

    Examples:
        >>> f = np.zeros((2, 2)); a = np.full((2, 2), 255.0)
        >>> psnr(f, a, f)      # mean MSE = 255^2 / 2
        3.0102...
    """
    F, A, B = _f64(f), _f64(a), _f64(b)
    mse = (np.mean((A - F) ** 2) + np.mean((B - F) ** 2)) / 2.0
    return float(10.0 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")
