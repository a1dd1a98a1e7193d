"""Device and precision selection.

Examples:
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_precision("fp32", resolve_device("cpu"))
    'fp32'
"""

from __future__ import annotations

from typing import Literal, Union, get_args

import torch

from .layers import choices

__all__ = ["DeviceLike", "Precision", "resolve_device", "resolve_precision", "cpu_supports_bf16"]

DeviceLike = Union[str, torch.device, None]
Precision = Literal["fp32", "bf16", "auto"]


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """Turn ``"auto"`` / ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` / a :class:`torch.device` into a device.

    ``"auto"`` (or ``None``) picks CUDA when it is available, else the CPU.

    Raises:
        ValueError: the string is not a device name.
        RuntimeError: CUDA is asked for but not available, or the index does not exist.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a string or torch.device, got {type(device).__name__}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {str(device)!r} was requested but CUDA is not available; use device='cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    return device


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), where bf16 is fast."""
    try:
        from torch.backends import mkldnn

        return bool(getattr(mkldnn, "is_available", lambda: False)()) and bool(
            torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except Exception:  # pragma: no cover - very old or exotic builds
        return False


def resolve_precision(
    precision: Precision | str, device: torch.device, bf16_tolerant: bool = False
) -> Literal["fp32", "bf16"]:
    """Resolve ``"auto"`` to a concrete precision.

    ``"auto"`` is ``"bf16"`` only for a model checked to tolerate it
    (``bf16_tolerant``, see :class:`~normfuse.network.NormFuseConfig`) on a CPU
    with native bfloat16 (:func:`cpu_supports_bf16`), where it is about twice
    as fast; everywhere else it is ``"fp32"``.  A model trained with the
    letter's recipe alone moves fused pixels by several grey levels in bfloat16,
    which this project's rule for a faster default forbids (see the project's
    ``docs/performance.md``).

    Raises:
        ValueError: ``precision`` is not ``"fp32"``, ``"bf16"`` or ``"auto"``.
    """
    if precision not in get_args(Precision):
        raise ValueError(f"precision must be {choices(Precision)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_tolerant and device.type == "cpu" and cpu_supports_bf16() else "fp32"
    return precision  # type: ignore[return-value]
