"""How an alignment reaches the fusion: the IR image on the visible grid, with no black border taken as cold.

:func:`register_inputs` resamples the prepared IR luminance onto the visible
grid and fills the pixels without IR data with the visible luminance, so that
the network sees no artificial cold edge there; :func:`keep_visible_outside`
then gives those pixels the visible luminance in the fused result: where there
is no infrared data, the fused image is the visible image.

Examples:
    >>> import numpy as np
    >>> from normfuse.inputs import prepare
    >>> from normfuse.registration import Alignment
    >>> a = Alignment(np.array([[1.0, 0, 4], [0, 1, 0], [0, 0, 1]]), "translation", (8, 8), (8, 8))
    >>> ir, vis = prepare(np.zeros((8, 8), np.uint8), "ir"), prepare(np.full((8, 8), 200, np.uint8), "vis")
    >>> valid = register_inputs(a, ir, vis, None)
    >>> valid[0, 0, 0].tolist(), round(float(ir.luma[0, 0, 0, 7]), 3)   # columns 4..7 have no IR data
    ([True, True, True, True, False, False, False, False], 0.784)
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .alignment import Alignment

__all__ = ["resolve_alignment", "register_inputs", "keep_visible_outside"]


def resolve_alignment(alignment: Any, ir: Any, vis: Any) -> Alignment:
    """An :class:`Alignment` from what :meth:`~normfuse.NormFuser.fuse` accepts as ``alignment``.

    ``"auto"`` registers this pair (:func:`~normfuse.registration.align`, default model)
    and raises :class:`~normfuse.registration.RegistrationError` when the result is
    unreliable (a fused image from a wrong warp would be worse than none: call
    ``align`` yourself to look at or keep such a result); a path reads a rig /
    alignment JSON file; an :class:`Alignment` is used as is.
    """
    if isinstance(alignment, Alignment):
        return alignment
    if isinstance(alignment, str) and alignment == "auto":
        from .register import align

        return align(ir, vis, on_failure="raise")
    if isinstance(alignment, (str, os.PathLike)):
        return Alignment.load(alignment)
    raise TypeError(f"alignment must be an Alignment, a path to an alignment JSON file or 'auto', "
                    f"got {type(alignment).__name__}")


def register_inputs(alignment: Any, ir, vis, ir_original: Any) -> torch.Tensor:
    """Resample ``ir.luma`` (a :class:`~normfuse.inputs.Prepared`) onto ``vis``'s grid in place; return the mask.

    Pixels without IR data get the visible luminance.  ``ir_original`` is what
    the user passed (used by ``alignment="auto"``; ``None`` registers the
    prepared luminance).  Returns the ``(1, 1, H_vis, W_vis)`` bool valid mask.

    Raises:
        normfuse.registration.AlignmentSizeError: the alignment was made for other image sizes.
    """
    if isinstance(alignment, str) and alignment == "auto":
        if ir.batch != 1 or vis.batch != 1:
            raise ValueError("alignment='auto' registers one pair at a time; got a batch")
        alignment = resolve_alignment(alignment, ir.luma[0, 0], vis.luma[0, 0])
    else:
        alignment = resolve_alignment(alignment, ir_original, None)
    alignment.check_sizes(ir.size, vis.size)
    warped, valid = alignment.warp_tensor(ir.luma)
    valid = valid.to(vis.luma.device)
    ir.luma = torch.where(valid, warped.to(vis.luma.device), vis.luma).contiguous()
    return valid


def keep_visible_outside(fused: torch.Tensor, vis_luma: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """``fused`` ``(B, 1, H, W)`` with the visible luminance where ``valid`` is False (no IR data)."""
    if valid is None:
        return fused
    return torch.where(valid.to(fused.device), fused, vis_luma.to(fused.device, fused.dtype))
