"""Robustness checks of a fused image: black crush and the share of the IR image's warm targets.

Two failure modes of learned fusion that the six quality metrics of the letter
can miss: on dark scenes the fused image is crushed to black below both
sources, and on low-contrast thermal scenes the warm targets (people, cars) of
the IR image vanish from the fused image.

Examples:
    >>> import numpy as np
    >>> ir = np.full((10, 10), 60.0); ir[4:6, 4:6] = 200      # warm target
    >>> vis = np.full((10, 10), 30.0)
    >>> crushed_fraction(np.zeros((10, 10)), ir, vis), ir_target_share(ir, ir, vis)
    (1.0, 1.0)
    >>> round(ir_target_share((ir + vis) / 2, ir, vis), 3)
    0.5
"""

from __future__ import annotations

import numpy as np

from .registry import register

__all__ = ["crushed_fraction", "ir_target_share", "CRUSH_LEVEL", "SOURCE_LEVEL", "HOT_PERCENT"]

#: A fused pixel at or below this grey level counts as black.
CRUSH_LEVEL = 2
#: ... when one of the sources is at least this bright there.
SOURCE_LEVEL = 20
#: The warm targets: the hottest this percentage of IR pixels.
HOT_PERCENT = 2.0


@register(
    "CRUSH",
    full_name="fraction of pixels crushed to black",
    higher_is_better=False,
    value_range=(0.0, 1.0),
    needs_sources=True,
    reference="this project (normfuse): the failure of fusing dark scenes",
    convention=f"fraction of all pixels with F <= {CRUSH_LEVEL} where max(A, B) >= {SOURCE_LEVEL} (0-255 scale)",
)
def crushed_fraction(f, a, b) -> float:
    """Fraction of pixels black in ``f`` (``<= 2``) where a source is not (``>= 20``); 8-bit grey arrays."""
    return float(np.mean((f <= CRUSH_LEVEL) & (np.maximum(a, b) >= SOURCE_LEVEL)))


def _target_contrast(x: np.ndarray, hot: np.ndarray) -> float:
    return float(x[hot].mean() - x[~hot].mean())


@register(
    "IRshare",
    full_name="IR target share",
    higher_is_better=True,
    value_range=(-np.inf, np.inf),
    needs_sources=True,
    reference="this project (normfuse): whether the warm targets of the IR image survive fusion",
    convention=f"T = the hottest {HOT_PERCENT:g} % of IR pixels, c(X) = mean(X on T) - mean(X off T); "
    "(c(F) - c(B)) / (c(A) - c(B)): 0 targets missing, 1 as strong as in the IR image, "
    "0.5 for the average of the sources; NaN when c(A) = c(B) or T is empty or everything",
)
def ir_target_share(f, a, b) -> float:
    """How much of the IR image's warm-target contrast over the visible image is in ``f``; 8-bit grey arrays."""
    hot = a >= np.percentile(a, 100.0 - HOT_PERCENT)
    if hot.all() or not hot.any():
        return float("nan")
    den = _target_contrast(a, hot) - _target_contrast(b, hot)
    if den == 0:
        return float("nan")
    return (_target_contrast(f, hot) - _target_contrast(b, hot)) / den
