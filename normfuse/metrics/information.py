"""Mutual information between the fused image and its sources (MI, and MI in nats).

Histograms are 256 x 256 joint histograms of 8-bit grey levels.

Examples:
    >>> import numpy as np
    >>> x = np.arange(256).reshape(16, 16)
    >>> mutual_information(x, x)    # MI(x, x) = H(x) = 8 bits
    8.0
"""

from __future__ import annotations

import numpy as np

from .registry import register

__all__ = ["joint_histogram", "mutual_information", "fusion_mi", "fusion_mi_nats"]

_REFERENCE = (
    "G. Qu, D. Zhang, P. Yan, 'Information measure for performance of image fusion', "
    "Electronics Letters 38 (2002)"
)


def _levels(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {a.shape}")
    return np.clip(np.rint(a), 0, 255).astype(np.intp)


def joint_histogram(x, y) -> np.ndarray:
    """256 x 256 counts ``h[i, j]`` of pixels with level ``i`` in ``x`` and ``j`` in ``y``.

    Examples:
        >>> h = joint_histogram(np.array([[0, 1]]), np.array([[5, 5]]))
        >>> int(h[0, 5]), int(h[1, 5]), int(h.sum())
        (1, 1, 2)
    """
    a, b = _levels(x), _levels(y)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} and {b.shape}")
    return np.bincount((a * 256 + b).ravel(), minlength=256 * 256).reshape(256, 256)


def mutual_information(x, y, base: float = 2.0) -> float:
    """Mutual information of two 8-bit grey images from their joint histogram (bits by default).

    ``sum p(i, j) log(p(i, j) / (p(i) p(j)))`` over the non-empty bins, logarithm to ``base``
    (``base=np.e`` gives nats).

    Examples:
        >>> x = np.array([[0, 0, 255, 255]])
        >>> mutual_information(x, x), mutual_information(x, np.array([[0, 9, 0, 9]]))
        (1.0, 0.0)
    """
    h = joint_histogram(x, y).astype(np.float64)
    p = h / h.sum()
    px = p.sum(axis=1, keepdims=True)
    py = p.sum(axis=0, keepdims=True)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (px @ py)[nz])).sum() / np.log(base))
    return max(mi, 0.0)  # exact value is >= 0; clears -1e-16 round-off


@register(
    "MI",
    full_name="mutual information (bits)",
    higher_is_better=True,
    value_range=(0.0, 16.0),
    needs_sources=True,
    reference=_REFERENCE,
    convention="MI(A, F) + MI(B, F) in bits (log2) from 256 x 256 joint grey-level histograms",
)
def fusion_mi(f, a, b) -> float:
    """``MI(A, F) + MI(B, F)`` in bits.

    Examples:
        >>> x = np.arange(256).reshape(16, 16)
        >>> fusion_mi(x, x, x)     # = 2 * EN(x) when F = A = B
        16.0
    """
    return mutual_information(a, f) + mutual_information(b, f)


@register(
    "MI_nats",
    full_name="mutual information (nats)",
    higher_is_better=True,
    value_range=(0.0, float(16.0 * np.log(2.0))),
    needs_sources=True,
    reference=_REFERENCE,
    convention="MI(A, F) + MI(B, F) in nats (natural logarithm), = ln 2 (about 0.693) times MI; "
    "what several Python libraries report",
    variant_of="MI",
)
def fusion_mi_nats(f, a, b) -> float:
    """``MI(A, F) + MI(B, F)`` in nats.

    Examples:
        >>> x = np.arange(256).reshape(16, 16)
        >>> round(fusion_mi_nats(x, x, x), 4)   # 16 ln 2
        11.0904
    """
    return mutual_information(a, f, base=np.e) + mutual_information(b, f, base=np.e)
