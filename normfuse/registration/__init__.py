"""Registration of infrared and visible images: :func:`align` one pair, :func:`calibrate` a rig, control points.

Everything maps the *visible* grid to the *infrared* image: the fused image is
on the visible grid, and the IR image is resampled onto it
(:meth:`Alignment.warp`), with a mask of the pixels that have IR data
(:attr:`Alignment.valid`).

Examples:
    >>> import numpy as np
    >>> from normfuse.registration import Alignment
    >>> a = Alignment(np.eye(3), "affine", ir_size=(4, 4), vis_size=(4, 4))
    >>> a.coordinates().shape, bool(a.valid.all())
    ((4, 4, 2), True)
"""

from __future__ import annotations

from .alignment import Alignment, AlignmentSizeError
from .register import DEFAULT_MODEL, AlignmentWarning, RegistrationError, align, calibrate
from .transforms import MODELS

__all__ = [
    "Alignment",
    "AlignmentSizeError",
    "AlignmentWarning",
    "RegistrationError",
    "DEFAULT_MODEL",
    "MODELS",
    "align",
    "calibrate",
]
