"""The convention registry: :class:`Convention` and :class:`MetricSpec`, registered and looked up by name.

A *convention* is the way one evaluation code computes its metrics: exact
formula, scale of the pixel values, logarithm base, arithmetic dtype and any
bug it has.  Each convention maps metric names to a :class:`MetricSpec` that
records all of that with the function reproducing it.

Examples:
    >>> from normfuse.metrics import conventions
    >>> c = conventions.get_convention("cddfuse")
    >>> c.metrics["MI"].log_base, c.dtype
    ('e', 'float32')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["MetricSpec", "Convention", "register_convention", "get_convention", "list_conventions", "CONVENTIONS"]

_CONVENTIONS: dict[str, Convention] = {}

#: Read-only view ``name -> Convention`` of every registered convention.
CONVENTIONS: Mapping[str, Convention] = MappingProxyType(_CONVENTIONS)

#: Other names accepted for metrics of a convention (the reference codes' own names).
ALIASES = {"AG": "MG", "VIFF": "VIF", "STD": "SD", "VARIANCE": "SD"}


@dataclass(frozen=True)
class MetricSpec:
    """One metric as one evaluation code computes it.

    Attributes:
        name: the result key (normfuse's name where the quantity is the same, e.g. ``"MG"`` for AG).
        func: ``func(f, a, b) -> float`` on the arrays the convention prepares (``a`` = IR, ``b`` = visible).
        formula: the exact formula, in the reference code's terms.
        scale: the pixel scale the reference feeds in, e.g. ``"0-255"`` or ``"[0, 1]"``.
        log_base: ``"2"``, ``"e"``, ``"10"`` or ``"-"``.
        dtype: the arithmetic, e.g. ``"float64"``, ``"float32"``, ``"uint8 (saturating)"``.
        bug: the reference's deviation from the textbook metric that is reproduced (``""`` if none).
        source: the reference file (and function) the metric follows.
        higher_is_better: the direction of "better".
        needs_sources: whether ``a`` and ``b`` are used.
    """

    name: str
    func: Callable[..., float] = field(repr=False)
    formula: str
    scale: str
    log_base: str
    dtype: str
    bug: str
    source: str
    higher_is_better: bool = True
    needs_sources: bool = True


@dataclass(frozen=True)
class Convention:
    """A named metric convention (a preset), with its metadata.

    Attributes:
        name: the preset's name, e.g. ``"tang-2022"``.
        description: what code and which call it reproduces.
        used_by: papers whose tables were made with it.
        reference: the repository and files it follows.
        dtype: ``"float64"`` or ``"float32"``: the arrays the metric functions get.
        colour: ``"luminance"`` (colour reduced to BT.601 grey first) or ``"per-channel"``
            (a colour fused image is scored channel by channel and averaged, where the reference does so).
        metrics: read-only ``name -> MetricSpec``, in report order.

    Examples:
        >>> from normfuse.metrics import conventions
        >>> list(conventions.get_convention("tang-2022").metrics)[:4]
        ['EN', 'SD', 'SF', 'MG']
    """

    name: str
    description: str
    used_by: tuple[str, ...]
    reference: str
    dtype: str
    colour: str
    metrics: Mapping[str, MetricSpec]

    def names(self) -> list[str]:
        """The metric names of this convention in report order."""
        return list(self.metrics)

    def resolve(self, names) -> list[str]:
        """Canonical metric names of this convention (``None`` -> all; case-insensitive; aliases such as AG).

        Raises:
            ValueError: names this convention does not define; the message lists the valid ones.
        """
        if names is None:
            return self.names()
        if isinstance(names, str):
            names = [names]
        folded = {n.casefold(): n for n in self.metrics}
        out, unknown = [], []
        for n in names:
            key = folded.get(str(n).casefold()) or folded.get(ALIASES.get(str(n).upper(), "").casefold())
            if key is None:
                unknown.append(repr(n))
            elif key not in out:
                out.append(key)
        if unknown:
            raise ValueError(
                f"convention {self.name!r} does not define metric(s) {', '.join(unknown)}; "
                f"its metrics: {', '.join(self.metrics)}"
            )
        return out


def register_convention(conv: Convention) -> Convention:
    """Add ``conv`` to the registry (its ``metrics`` mapping is frozen); returns it.

    Raises:
        ValueError: the name is taken.
    """
    if conv.name in _CONVENTIONS:
        raise ValueError(f"convention {conv.name!r} is already registered")
    object.__setattr__(conv, "metrics", MappingProxyType(dict(conv.metrics)))
    _CONVENTIONS[conv.name] = conv
    return conv


def get_convention(name: str | Convention) -> Convention:
    """The :class:`Convention` called ``name`` (case-insensitive; a ``Convention`` is returned as is).

    Raises:
        ValueError: unknown name; the message lists the valid ones.

    Examples:
        >>> get_convention("nope")
        Traceback (most recent call last):
        ...
        ValueError: unknown convention 'nope'; valid conventions: normfuse, tang-matlab, tang-2022, cddfuse, vifb
    """
    if isinstance(name, Convention):
        return name
    folded = {n.casefold(): n for n in _CONVENTIONS}
    key = folded.get(str(name).casefold())
    if key is None:
        raise ValueError(f"unknown convention {name!r}; valid conventions: {', '.join(_CONVENTIONS)}")
    return _CONVENTIONS[key]


def list_conventions() -> list[str]:
    """Names of the registered conventions, ``"normfuse"`` (the default) first.

    Examples:
        >>> list_conventions()
        ['normfuse', 'tang-matlab', 'tang-2022', 'cddfuse', 'vifb']
    """
    return list(_CONVENTIONS)
