"""normfuse: infrared and visible image fusion with NormFuse.

The names below are imported on first use, so that ``import normfuse`` (and
``normfuse --version`` or ``--help``) does not load torch.

Examples:
    >>> from normfuse import NormFuser
    >>> from normfuse.samples import sample_pair_paths
    >>> fused = NormFuser.from_pretrained(device="cpu").fuse(*sample_pair_paths())
    >>> fused.shape
    (450, 620)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .fuser import NormFuser
    from .io import ImageReadError
    from .layers import PEAN, Norm2d, PEANResBlock, ResBlock
    from .models import DEFAULT_MODEL, ModelInfo, list_models
    from .network import Features, FusionRule, NormFuseConfig, NormFuseNet
    from .registration import Alignment, align, calibrate
    from .weights import ModelNotFoundError, WeightsError

_LAZY = {
    "NormFuser": "fuser",
    "PEAN": "layers",
    "PEANResBlock": "layers",
    "ResBlock": "layers",
    "Norm2d": "layers",
    "NormFuseConfig": "network",
    "NormFuseNet": "network",
    "Features": "network",
    "FusionRule": "network",
    "ImageReadError": "io",
    "WeightsError": "weights",
    "ModelNotFoundError": "weights",
    "list_models": "models",
    "ModelInfo": "models",
    "DEFAULT_MODEL": "models",
    "align": "registration",
    "calibrate": "registration",
    "Alignment": "registration",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'normfuse' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
