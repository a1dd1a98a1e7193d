"""Fusion-quality metrics: EN, SD, SF, MG, MI, VIF, Qabf, SSIM, SCD, PSNR, CC, and paper-convention variants.

Every image is reduced to 8-bit grey (BT.601 luminance for colour, float [0, 1]
times 255, rounded to whole numbers 0..255) and all arithmetic is float64 on the
0-255 scale.  ``A`` is the infrared source, ``B`` the visible one, ``F`` the
fused image.  The conventions, and which paper used which, are in
``docs/metrics.md``; EN, MI, MG, VIF and SD_colmean reproduce DIDFuse's
published table to 3 decimals (checked by ``tests/test_metrics.py``).

Modules: :mod:`.images` (input conversion), :mod:`.registry` (metadata and
lookup), :mod:`.basic` (EN, SD, SF, MG), :mod:`.information` (MI),
:mod:`.vif` (VIF, VIFp), :mod:`.qabf` (Qabf), :mod:`.structural` (SSIM, SCD,
CC, PSNR), :mod:`.api` (compute, folders, reports), :mod:`.conventions` (presets
reproducing other evaluation codes: ``compute(..., convention="tang-2022")``).

Examples:
    >>> from normfuse import metrics
    >>> from normfuse.samples import sample_pair_paths
    >>> ir, vis = sample_pair_paths()
    >>> s = metrics.compute(vis, ir, vis, names=["MI", "SSIM"])   # "fusing" by copying the visible image
    >>> round(s["SSIM"], 3) > 1.0, metrics.get("MI").higher_is_better
    (True, True)
    >>> metrics.available()[:11] == list(metrics.DEFAULT_METRICS)
    True
"""

from .api import IMAGE_SUFFIXES, compute, evaluate_folder, markdown_table, match_folders, write_csv, write_json
from .conventions import CONVENTIONS, Convention, MetricSpec, get_convention, list_conventions
from .images import ImageLike, gray8_triplet, to_gray8
from .registry import DEFAULT_METRICS, METRICS, MetricInfo, available, get, register, unregister

__all__ = [
    "compute",
    "evaluate_folder",
    "match_folders",
    "write_csv",
    "write_json",
    "markdown_table",
    "available",
    "get",
    "register",
    "unregister",
    "METRICS",
    "DEFAULT_METRICS",
    "MetricInfo",
    "to_gray8",
    "gray8_triplet",
    "ImageLike",
    "IMAGE_SUFFIXES",
    "CONVENTIONS",
    "Convention",
    "MetricSpec",
    "get_convention",
    "list_conventions",
]
