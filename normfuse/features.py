"""What the encoder gives and the decoder takes: :class:`Features`, and how two of them are fused (:class:`FusionRule`).

Examples:
    >>> import torch
    >>> one, zero = torch.ones(1, 2, 3, 3), torch.zeros(1, 2, 3, 3)
    >>> a, b = Features(one, one, (one, one)), Features(zero, zero, (zero, zero))
    >>> str(FusionRule.parse("sum:max:mean")), float(fuse_features(a, b, "mean").structure.mean())
    ('sum:max:mean', 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from .norm import choices

__all__ = ["Combine", "Features", "FusionRule", "fuse_features"]

Combine = Literal["sum", "mean", "max", "ir", "vis"]


@dataclass(frozen=True)
class FusionRule:
    """How two encodings are combined into one before decoding.

    The NormFuse letter sums both structure and detail maps (``"sum"``).  The
    skip features (the encoder ResBlock outputs that the decoder concatenates)
    are not mentioned in the letter; they are combined with ``skip``.

    Each field is one of ``"sum"``, ``"mean"``, ``"max"`` (element-wise),
    ``"ir"`` or ``"vis"`` (take that source only).
    """

    structure: Combine = "sum"
    detail: Combine = "sum"
    skip: Combine = "sum"

    def __post_init__(self) -> None:
        for name in ("structure", "detail", "skip"):
            value = getattr(self, name)
            if value not in get_args(Combine):
                raise ValueError(f"FusionRule.{name} must be {choices(Combine)}; got {value!r}")

    @classmethod
    def parse(cls, rule: FusionRule | str | Mapping[str, str] | None) -> FusionRule:
        """A rule from its documented forms; ``None`` gives the letter's rule (all sums).

        ``"max"`` uses one combination for all three terms; ``"sum:max:sum"`` gives
        ``STRUCTURE:DETAIL:SKIP``; a dict gives the fields by name (as in ``config.json``).

        Raises:
            TypeError: ``rule`` is none of these forms (the message says what to pass).
            ValueError: a string with two or four parts, or an unknown combination.

        Examples:
            >>> FusionRule.parse("sum:max:sum")
            FusionRule(structure='sum', detail='max', skip='sum')
            >>> FusionRule.parse("max") == FusionRule("max", "max", "max")
            True
            >>> str(FusionRule.parse({"detail": "max"}))
            'sum:max:sum'
        """
        if rule is None:
            return cls()
        if isinstance(rule, cls):
            return rule
        if isinstance(rule, str):
            parts = [x.strip() for x in rule.split(":")]
            if len(parts) == 1:
                parts *= 3
            if len(parts) != 3:
                raise ValueError(
                    f"a fusion rule string is one combination ('sum') or STRUCTURE:DETAIL:SKIP ('sum:max:sum'), "
                    f"got {rule!r}"
                )
            return cls(*parts)  # type: ignore[arg-type]  # strings checked by __post_init__
        if isinstance(rule, Mapping):
            unknown = sorted(set(rule) - {"structure", "detail", "skip"})
            if unknown:
                raise ValueError(f"unknown FusionRule fields {unknown}; use structure, detail and skip")
            return cls(**rule)  # type: ignore[arg-type]  # strings checked by __post_init__
        raise TypeError(
            "rule must be a FusionRule, a string such as 'sum' or 'sum:max:sum' (STRUCTURE:DETAIL:SKIP, each "
            f"sum, mean, max, ir or vis), a dict of those fields, or None; got {type(rule).__name__}"
        )

    def __str__(self) -> str:
        return f"{self.structure}:{self.detail}:{self.skip}"


@dataclass
class Features:
    """Feature maps of one encoded image (or of a fused pair).

    All tensors are ``(B, width, H, W)`` at the input's height and width.

    Attributes:
        structure: S, source-invariant structure features.
        detail: D, source-specific detail features (PEAN's condition).
        skips: outputs of the two encoder ResBlocks ``(r1, r2)``.
    """

    structure: torch.Tensor
    detail: torch.Tensor
    skips: tuple[torch.Tensor, torch.Tensor]

    def __repr__(self) -> str:
        def desc(t: torch.Tensor) -> str:
            return f"({', '.join(map(str, t.shape))})"

        t = self.structure
        return (
            f"Features(structure={desc(t)}, detail={desc(self.detail)}, "
            f"skips=({desc(self.skips[0])}, {desc(self.skips[1])}), dtype={str(t.dtype).replace('torch.', '')}, "
            f"device={str(t.device)!r})"
        )

    def map(self, fn) -> Features:
        """Return new features with ``fn`` applied to every tensor."""
        return Features(fn(self.structure), fn(self.detail), (fn(self.skips[0]), fn(self.skips[1])))

    @property
    def shape(self) -> torch.Size:
        return self.structure.shape


def _combine(rule: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if rule == "sum":
        return a + b
    if rule == "mean":
        return (a + b) * 0.5
    if rule == "max":
        return torch.maximum(a, b)
    if rule == "ir":
        return a
    return b


def fuse_features(ir: Features, vis: Features, rule: FusionRule | str | Mapping[str, str] | None = None) -> Features:
    """Combine two encodings into one with ``rule`` (default: the letter's sums).

    ``rule`` is a :class:`FusionRule` or one of its string forms, ``"max"`` or
    ``"sum:max:sum"`` (see :meth:`FusionRule.parse`).

    Raises:
        TypeError: ``rule`` is not a rule or rule string.
        ValueError: if the two encodings' shapes differ.
    """
    rule = FusionRule.parse(rule)
    if ir.shape != vis.shape:
        raise ValueError(f"cannot fuse features of shapes {tuple(ir.shape)} (ir) and {tuple(vis.shape)} (vis)")
    return Features(
        _combine(rule.structure, ir.structure, vis.structure),
        _combine(rule.detail, ir.detail, vis.detail),
        tuple(_combine(rule.skip, a, b) for a, b in zip(ir.skips, vis.skips)),  # type: ignore[arg-type]
    )
