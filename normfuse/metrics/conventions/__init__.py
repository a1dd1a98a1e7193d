"""Metric conventions of the field's evaluation codes, as named presets.

Papers compute "the same" metric with different codes, whose conventions (scale,
logarithm base, dtype arithmetic, bugs) move the numbers.  Each preset reproduces one
code so that numbers can be put next to a paper's table:

========================  ================================================================
``"normfuse"`` (default)  this library's standard metrics (:mod:`normfuse.metrics`)
``"tang-matlab"``         Tang's MATLAB code as it is now (SeAFusion, PIAFusion, ...)
``"tang-2022"``           the call of that code behind its 2022 tables (uint8 / [0, 1] inputs)
``"cddfuse"``             CDDFuse's ``utils/Evaluator.py`` (CDDFuse, EMMA, DDFM, ...)
``"vifb"``                VIFB's 13 MATLAB metrics
========================  ================================================================

Use them through ``metrics.compute(f, ir, vis, convention="tang-2022")``; the metadata is
in :data:`CONVENTIONS` (``name -> Convention``), see ``docs/metrics.md`` for the table.

Examples:
    >>> from normfuse.metrics import conventions
    >>> conventions.list_conventions()
    ['normfuse', 'tang-matlab', 'tang-2022', 'cddfuse', 'vifb']
    >>> spec = conventions.get_convention("tang-2022").metrics["SD"]
    >>> spec.dtype, spec.source.endswith("SD_evaluation.m")
    ('uint8 (saturating)', True)
"""

from __future__ import annotations

import numpy as np

from ..images import check_same_size, gray8_triplet, to_levels8
from ..registry import DEFAULT_METRICS, METRICS
from .base import CONVENTIONS, Convention, MetricSpec, get_convention, list_conventions, register_convention
from .cddfuse import CDDFUSE
from .tang import TANG_2022, TANG_MATLAB
from .vifb import VIFB

__all__ = [
    "Convention",
    "MetricSpec",
    "CONVENTIONS",
    "get_convention",
    "list_conventions",
    "register_convention",
    "compute_convention",
    "NORMFUSE",
]


def _normfuse_spec(name: str) -> MetricSpec:
    info = METRICS[name]
    return MetricSpec(
        name=name,
        func=lambda f, a=None, b=None, _i=info: _i.apply(f, a, b),
        formula=info.convention,
        scale="0-255",
        log_base={"EN": "2", "MI": "2", "VIF": "10", "PSNR": "10"}.get(name, "-"),
        dtype="float64",
        bug="",
        source=f"normfuse.metrics ({info.reference})",
        higher_is_better=info.higher_is_better,
        needs_sources=info.needs_sources,
    )


NORMFUSE = Convention(
    name="normfuse",
    description="normfuse's standard metrics: the textbook definitions on 8-bit grey, float64, 0-255 (the "
    "registry's variants such as MI_nats or SF_uint8 can be asked for by name)",
    used_by=("this library's tables",),
    reference="normfuse.metrics; docs/metrics.md",
    dtype="float64",
    colour="luminance",
    metrics={n: _normfuse_spec(n) for n in DEFAULT_METRICS},
)

for _conv in (NORMFUSE, TANG_MATLAB, TANG_2022, CDDFUSE, VIFB):
    register_convention(_conv)


def compute_convention(fused, ir, vis, names=None, convention: str | Convention = "normfuse") -> dict[str, float]:
    """Metrics of one fused image under a non-default ``convention`` (``metrics.compute`` calls this).

    Images are reduced to 8-bit levels as for the standard metrics (colour kept for a colour
    fused image when the convention scores channels), then cast to the convention's dtype.

    Raises:
        ValueError: unknown convention or metric name, sizes that differ, or missing sources.

    Examples:
        >>> x = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
        >>> compute_convention(x, x, x, ["EN", "MI"], "cddfuse")
        {'EN': 6.0, 'MI': 8.317766166719343}
    """
    conv = get_convention(convention)
    keys = conv.resolve(names)
    specs = [conv.metrics[k] for k in keys]
    missing = [s.name for s in specs if s.needs_sources]
    if missing and (ir is None or vis is None):
        raise ValueError(f"metrics {', '.join(missing)} need both source images (ir and vis)")
    if conv.colour == "per-channel":
        f = to_levels8(fused)
        if f.ndim == 2:
            f, a, b = gray8_triplet(f.astype(np.uint8), ir, vis)
        else:
            a, b = (None if s is None else to_levels8(s) for s in (ir, vis))
            check_same_size(f, a, b)
    else:
        f, a, b = gray8_triplet(fused, ir, vis)
    dt = np.float32 if conv.dtype == "float32" else np.float64
    f = f.astype(dt)
    a, b = (None if x is None else x.astype(dt) for x in (a, b))
    return {s.name: float(s.func(f, a, b)) if s.needs_sources else float(s.func(f)) for s in specs}
