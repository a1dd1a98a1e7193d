"""normfuse: infrared and visible image fusion with NormFuse.

Examples:
    >>> from normfuse import NormFuser
    >>> from normfuse.samples import sample_pair_paths
    >>> fused = NormFuser.from_pretrained(device="cpu").fuse(*sample_pair_paths())
    >>> fused.shape
    (450, 620)
"""

from ._version import __version__
from .fuser import NormFuser
from .io import ImageReadError
from .layers import PEAN, Norm2d, PEANResBlock, ResBlock
from .network import Features, FusionRule, NormFuseConfig, NormFuseNet
from .weights import ModelNotFoundError, WeightsError

__all__ = [
    "__version__",
    "NormFuser",
    "PEAN",
    "PEANResBlock",
    "ResBlock",
    "Norm2d",
    "NormFuseConfig",
    "NormFuseNet",
    "Features",
    "FusionRule",
    "ImageReadError",
    "WeightsError",
    "ModelNotFoundError",
]
