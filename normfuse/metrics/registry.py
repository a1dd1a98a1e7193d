"""The metric registry: every metric with its metadata, looked up by name.

Metric modules register their functions with :func:`register`; users look
them up with :func:`get`, list them with :func:`available` or browse
:data:`METRICS` (a read-only ``name -> MetricInfo`` mapping).

Examples:
    >>> import normfuse.metrics  # registers the built-in metrics
    >>> info = get("EN")
    >>> info.full_name, info.higher_is_better, info.value_range
    ('entropy', True, (0.0, 8.0))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = ["MetricInfo", "register", "unregister", "get", "available", "METRICS", "DEFAULT_METRICS", "resolve_names"]

#: The metrics :func:`normfuse.metrics.compute` reports when no names are given, in report order.
DEFAULT_METRICS: tuple[str, ...] = ("EN", "SD", "SF", "MG", "MI", "VIF", "Qabf", "SSIM", "SCD", "PSNR", "CC")

_REGISTRY: dict[str, MetricInfo] = {}

#: Read-only view ``name -> MetricInfo`` of every registered metric (primary metrics and variants).
METRICS: Mapping[str, MetricInfo] = MappingProxyType(_REGISTRY)


@dataclass(frozen=True)
class MetricInfo:
    """One metric and what a report needs to know about it.

    Attributes:
        name: short name used as the result key, e.g. ``"Qabf"``.
        full_name: what it is called in full.
        func: the computation on 8-bit grey float64 arrays: ``func(f)`` when
            ``needs_sources`` is false, else ``func(f, a, b)`` (``a`` = IR, ``b`` = visible).
        higher_is_better: the direction of "better".
        value_range: ``(low, high)`` the metric can take (``inf`` when unbounded).
        needs_sources: whether the source images are needed (else only the fused image).
        reference: the paper defining it.
        convention: the exact convention implemented here (what papers differ on).
        variant_of: for variants (``MI_nats``, ``SD_colmean`` ...), the primary metric's name.

    Calling the object computes the metric from any accepted inputs (arrays,
    tensors, paths), converting them with :func:`~normfuse.metrics.images.to_gray8`.

    Examples:
        >>> import numpy as np, normfuse.metrics
        >>> get("SD")(np.array([[0, 255]], np.uint8))
        127.5
    """

    name: str
    full_name: str
    func: Callable[..., float] = field(repr=False)
    higher_is_better: bool
    value_range: tuple[float, float]
    needs_sources: bool
    reference: str
    convention: str
    variant_of: str | None = None

    def __call__(self, fused, ir=None, vis=None) -> float:
        """Compute this metric for one image (``ir`` and ``vis`` needed when ``needs_sources``)."""
        from .images import gray8_triplet

        if self.needs_sources and (ir is None or vis is None):
            raise ValueError(f"metric {self.name} needs both source images (ir and vis)")
        f, a, b = gray8_triplet(fused, ir, vis)
        return self.apply(f, a, b)

    def apply(self, f: np.ndarray, a: np.ndarray | None = None, b: np.ndarray | None = None) -> float:
        """Compute on already-converted 8-bit grey float64 arrays (no conversion or checks)."""
        value = self.func(f, a, b) if self.needs_sources else self.func(f)
        return float(value)


def register(
    name: str,
    *,
    full_name: str,
    higher_is_better: bool,
    value_range: tuple[float, float],
    needs_sources: bool,
    reference: str,
    convention: str,
    variant_of: str | None = None,
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Decorator registering a metric function under ``name`` (the function is returned unchanged).

    Raises:
        ValueError: ``name`` is already registered.

    Examples:
        >>> @register("demo_max", full_name="maximum grey level", higher_is_better=True,
        ...           value_range=(0.0, 255.0), needs_sources=False, reference="-", convention="max of F")
        ... def _demo(f):
        ...     return f.max()
        >>> get("demo_max").full_name
        'maximum grey level'
        >>> unregister("demo_max")
    """

    def deco(func: Callable[..., float]) -> Callable[..., float]:
        if name in _REGISTRY:
            raise ValueError(f"metric {name!r} is already registered")
        _REGISTRY[name] = MetricInfo(
            name=name,
            full_name=full_name,
            func=func,
            higher_is_better=higher_is_better,
            value_range=(float(value_range[0]), float(value_range[1])),
            needs_sources=needs_sources,
            reference=reference,
            convention=convention,
            variant_of=variant_of,
        )
        return func

    return deco


def unregister(name: str) -> None:
    """Remove a metric registered with :func:`register` (mainly for tests and experiments).

    Examples:
        >>> unregister("no such metric")
        Traceback (most recent call last):
        ...
        KeyError: "metric 'no such metric' is not registered"
    """
    if name not in _REGISTRY:
        raise KeyError(f"metric {name!r} is not registered")
    del _REGISTRY[name]


def available() -> list[str]:
    """Names of all registered metrics: the 11 primary ones in report order, then the variants.

    Examples:
        >>> import normfuse.metrics
        >>> available()[:4]
        ['EN', 'SD', 'SF', 'MG']
        >>> "MI_nats" in available()
        True
    """
    primary = [n for n in DEFAULT_METRICS if n in _REGISTRY]
    return primary + sorted(n for n in _REGISTRY if n not in DEFAULT_METRICS)


def _lookup(name: str) -> str | None:
    if name in _REGISTRY:
        return name
    folded = {n.casefold(): n for n in _REGISTRY}
    return folded.get(str(name).casefold())


def get(name: str) -> MetricInfo:
    """The :class:`MetricInfo` registered as ``name`` (case-insensitive).

    Raises:
        ValueError: unknown name; the message lists the valid ones.

    Examples:
        >>> import normfuse.metrics
        >>> get("qabf").name
        'Qabf'
    """
    key = _lookup(name)
    if key is None:
        raise ValueError(f"unknown metric {name!r}; valid names: {', '.join(available())}")
    return _REGISTRY[key]


def resolve_names(names) -> list[str]:
    """Canonical names for ``names`` (``None`` -> :data:`DEFAULT_METRICS`; a single string is one name).

    Raises:
        ValueError: one or more unknown names; the message lists them and the valid ones.

    Examples:
        >>> import normfuse.metrics
        >>> resolve_names(["en", "MI_nats"])
        ['EN', 'MI_nats']
    """
    if names is None:
        return list(DEFAULT_METRICS)
    if isinstance(names, str):
        names = [names]
    out, unknown = [], []
    for n in names:
        key = _lookup(n)
        if key is None:
            unknown.append(repr(n))
        elif key not in out:
            out.append(key)
    if unknown:
        raise ValueError(f"unknown metric name(s) {', '.join(unknown)}; valid names: {', '.join(available())}")
    return out
