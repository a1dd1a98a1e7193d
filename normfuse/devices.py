"""Device and precision selection.

Examples:
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_precision("fp32", resolve_device("cpu"))
    'fp32'
"""

from __future__ import annotations

import warnings
from typing import Literal, get_args

import torch

from .norm import choices

__all__ = [
    "DeviceLike",
    "DeviceUnavailableError",
    "Precision",
    "EmulatedBF16Warning",
    "resolve_device",
    "resolve_precision",
    "cpu_supports_bf16",
    "warn_if_bf16_emulated",
]

DeviceLike = str | torch.device | None
Precision = Literal["fp32", "bf16", "auto"]


class DeviceUnavailableError(RuntimeError, ValueError):
    """A device that this machine does not have (CUDA without CUDA, a CUDA index beyond the devices).

    A ``ValueError`` too, so that the command line reports it as a usage error (one line, exit code 2).
    """


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """Turn ``"auto"`` / ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` / a :class:`torch.device` into a device.

    ``"auto"`` (or ``None``) picks CUDA when it is available, else the CPU.

    Raises:
        ValueError: the string is not a device name.
        DeviceUnavailableError: CUDA is asked for but not available, or the index does not exist
            (a ``RuntimeError`` and a ``ValueError``).
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
            raise DeviceUnavailableError(
                f"device {str(device)!r} was requested but CUDA is not available; use device='cpu' (--device cpu)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)"
            )
    return device


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), where bf16 is fast."""
    try:
        from torch.backends import mkldnn

        return bool(getattr(mkldnn, "is_available", lambda: False)()) and bool(
            torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except Exception:  # noqa: BLE001  # pragma: no cover - very old or exotic builds: no native bf16
        return False


class EmulatedBF16Warning(UserWarning):
    """bfloat16 was asked for on a CPU that has no native bfloat16: it runs emulated, several times slower than fp32."""


_warned_emulated_bf16 = False


def _first_outside_package() -> int:
    """``stacklevel`` for a warning issued by the caller that points at the first frame outside normfuse."""
    import os
    import sys

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    from types import FrameType

    level = 1
    frame: FrameType | None = sys._getframe(2)  # the frame calling the function that asks
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_bf16_emulated(device: torch.device, what: str = "bf16 precision") -> bool:
    """Warn (once per process) when bfloat16 on ``device`` is emulated; return True when it is.

    On a CPU without AVX512-BF16 or AMX, oneDNN emulates bfloat16, several
    times slower than fp32 (figures in ``docs/performance.md`` of the project).  Nothing is said for CUDA
    devices or CPUs with native bfloat16.  ``what`` names the setting in the
    message (``"--bf16"`` for training).

    Examples:
        >>> warn_if_bf16_emulated(torch.device("meta"))   # not a CPU: never emulated here
        False
    """
    global _warned_emulated_bf16
    if device.type != "cpu" or cpu_supports_bf16():
        return False
    if not _warned_emulated_bf16:
        _warned_emulated_bf16 = True
        try:
            has = torch.backends.cpu.get_cpu_capability()
        except Exception:  # noqa: BLE001  # pragma: no cover - older torch
            has = "unknown"
        warnings.warn(
            f"{what} asked for on a CPU without native bfloat16: it lacks AVX512-BF16 (avx512_bf16) and AMX "
            f"(amx_bf16); torch reports CPU capability {has}. bfloat16 is emulated here and several times slower "
            "than fp32: use fp32 (precision 'auto' picks it on such CPUs)",
            EmulatedBF16Warning,
            stacklevel=_first_outside_package() + 1,
        )
    return True


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
