"""Runtime backends: what runs the network inside :meth:`NormFuser.fuse <normfuse.NormFuser.fuse>`.

``backend="torch"`` (the default) runs the folded network
(:class:`~normfuse.inference.FusionPlan`) in torch.  ``backend="openvino"``
runs the exported fusion forward (:func:`normfuse.export.to_openvino`) with
OpenVINO on the CPU (``pip install 'normfuse[openvino]'``), in float32 or,
with ``precision="bf16"``, bfloat16.  ``backend="auto"`` takes OpenVINO when
it is installed and the device is the CPU, else torch, without a word.

Everything around the network stays the same whatever the backend: inputs,
dtypes, colour, sizes, tiling and errors are :class:`~normfuse.NormFuser`'s.
The backend only fuses luminance tiles (:meth:`OpenVINORuntime.fuse_tile`).
Precision follows :func:`normfuse.devices.resolve_precision` for every backend:
``"auto"`` is bf16 only for a model checked for that backend's bf16 path
(:func:`bf16_tolerant_on`: ``bf16_tolerant`` for torch,
``openvino_bf16_tolerant`` for OpenVINO) on a CPU with native bfloat16.  In bf16 the OpenVINO graph reads grey levels (0-255, which
bfloat16 holds exactly) instead of [0, 1]: that halved the drift in the
project's measurements (``docs/performance.md``).

Compiled models are cached per input shape (at most :data:`CACHE_SIZE`):
the first call at a new size compiles (0.2-1 s at 640 x 480 on 2 cores);
converting the network when the backend is first used costs a few seconds
more.  :attr:`OpenVINORuntime.compile_seconds` records both.

Examples:
    >>> resolve_backend("torch", "cpu")
    'torch'
    >>> resolve_backend("auto", "cpu") == ("openvino" if openvino_available() else "torch")
    True
"""

from __future__ import annotations

import importlib.util
import time
from collections import OrderedDict
from typing import Any, Literal, get_args

import numpy as np
import torch

from .devices import DeviceLike, cpu_supports_bf16, resolve_device
from .network import NormFuseConfig, NormFuseNet

__all__ = ["Backend", "CACHE_SIZE", "OpenVINORuntime", "bf16_tolerant_on", "openvino_available", "resolve_backend",
           "make_runtime"]

Backend = Literal["torch", "openvino", "auto"]

#: Compiled models kept per fuser (one per input shape; tiled images need up to about four).
CACHE_SIZE = 8

#: The graph's input scale in bf16: grey levels 0-255 instead of [0, 1].
BF16_INPUT_SCALE = 255.0


def openvino_available() -> bool:
    """True when :mod:`openvino` can be imported (``pip install 'normfuse[openvino]'``)."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except ValueError:  # sys.modules["openvino"] is None (import blocked)
        return False


def resolve_backend(backend: Backend | str, device: DeviceLike) -> Literal["torch", "openvino"]:
    """Turn ``"auto"`` into ``"torch"`` or ``"openvino"`` for ``device``; check an explicit choice.

    Raises:
        ValueError: an unknown backend, or ``"openvino"`` with a device other than the CPU.
        normfuse.export.ExportSupportMissing: ``"openvino"`` without openvino installed
            (the message says ``pip install 'normfuse[openvino]'``).
    """
    if backend not in get_args(Backend):
        raise ValueError(f"backend must be 'torch', 'openvino' or 'auto', got {backend!r}")
    dev = resolve_device(device)
    if backend == "auto":
        return "openvino" if dev.type == "cpu" and openvino_available() else "torch"
    if backend == "openvino":
        if dev.type != "cpu":
            raise ValueError(f"backend 'openvino' runs on the CPU; got device {str(dev)!r} (use backend='torch')")
        from .export import openvino_module

        openvino_module("backend='openvino'")  # raises ExportSupportMissing naming the extra
    return backend  # type: ignore[return-value]


class OpenVINORuntime:
    """The fusion forward of a network, compiled with OpenVINO for the CPU.

    Args:
        net: the network; converted on first use (a snapshot: later changes to
            ``net`` are not seen; :meth:`NormFuser.to <normfuse.NormFuser.to>` makes a new runtime).
        precision: ``"fp32"`` or ``"bf16"`` (OpenVINO's ``INFERENCE_PRECISION_HINT``).
        threads: inference threads (default: :func:`torch.get_num_threads` when compiling).

    Attributes:
        compile_seconds: ``{"convert": s, (B, C, H, W): s, ...}``: the conversion, and each shape's compilation
            plus its first inference.
    """

    name = "openvino"

    def __init__(self, net: NormFuseNet, precision: Literal["fp32", "bf16"], threads: int | None = None):
        self.net = net
        self.precision = precision
        self.threads = threads
        self.input_scale = BF16_INPUT_SCALE if precision == "bf16" else 1.0
        self.compile_seconds: dict[Any, float] = {}
        self._model: Any = None
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # shape -> its compiled model's request

    def _config(self) -> dict[str, Any]:
        return {
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",  # CPUs with AMX default to bf16
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(self.threads or torch.get_num_threads()),
        }

    def _request_for(self, shape: tuple[int, ...]) -> Any:
        cached = self._compiled.get(shape)
        if cached is not None:
            self._compiled.move_to_end(shape)
            return cached
        from .export import openvino_module, to_openvino

        ov = openvino_module()
        t = time.perf_counter()
        if self._model is None:
            self._model = to_openvino(self.net, self.input_scale)
            self.compile_seconds["convert"] = time.perf_counter() - t
            t = time.perf_counter()
        model = self._model.clone()
        model.reshape({name: list(shape) for name in ("ir", "vis")})
        compiled = ov.Core().compile_model(model, "CPU", self._config())
        request = compiled.create_infer_request()  # one per shape, reused: fuse is not called concurrently
        self._compiled[shape] = request
        if len(self._compiled) > CACHE_SIZE:
            self._compiled.popitem(last=False)
        self.compile_seconds[shape] = time.perf_counter() - t  # the first inference is added by fuse_tile
        return request

    def fuse_tile(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        """Fuse ``(B, 1, h, w)`` float luminance tiles in [0, 1]; return ``(B, 1, h, w)`` float32 in [0, 1] (CPU)."""
        shape = tuple(int(s) for s in ir.shape)
        first = shape not in self._compiled
        request = self._request_for(shape)
        a, b = (np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy()) for x in (ir, vis))
        if self.input_scale != 1.0:
            a, b = a * np.float32(self.input_scale), b * np.float32(self.input_scale)
        t = time.perf_counter()
        out = request.infer([a, b], share_inputs=True)[0]  # the inputs are read in place, not copied
        if first:
            self.compile_seconds[shape] += time.perf_counter() - t
        return torch.from_numpy(np.array(out, dtype=np.float32, copy=True)).clamp_(0, 1)

    def describe(self) -> str:
        from .export import openvino_module

        version = str(getattr(openvino_module(), "__version__", "?")).split("-")[0]
        return f"OpenVINO {version} ({self.precision}, input scale {self.input_scale:g})"


def bf16_tolerant_on(backend: Literal["torch", "openvino"], config: NormFuseConfig) -> bool:
    """Whether ``config``'s model was checked to stay within the drift bound in bf16 on ``backend``.

    The two paths round differently, so each has its own flag: a model can pass on torch (which
    keeps its first and last layers in float32) and fail on OpenVINO.

    Examples:
        >>> bf16_tolerant_on("openvino", NormFuseConfig(bf16_tolerant=True))
        False
    """
    return config.openvino_bf16_tolerant if backend == "openvino" else config.bf16_tolerant


def make_runtime(backend: Literal["torch", "openvino"], net: NormFuseNet,
                 precision: Literal["fp32", "bf16"]) -> OpenVINORuntime | None:
    """The runtime for a resolved backend: ``None`` for torch (the fuser's own path), else an :class:`OpenVINORuntime`."""
    return OpenVINORuntime(net, precision) if backend == "openvino" else None


def describe_choice(backend: str, requested: str, precision: str, requested_precision: str, bf16_tolerant: bool,
                    device: torch.device, runtime: OpenVINORuntime | None) -> str:
    """One line saying which path a fuser runs and why (:meth:`NormFuser.describe <normfuse.NormFuser.describe>`)."""
    path = runtime.describe() if runtime is not None else f"torch {torch.__version__} FusionPlan ({precision})"
    why = []
    if requested == "auto":
        why.append("backend auto: " + ("openvino is installed" if backend == "openvino"
                                       else "openvino not installed or device not a CPU"))
    if requested_precision == "auto":
        native = device.type == "cpu" and cpu_supports_bf16()
        flag = "openvino_bf16_tolerant" if backend == "openvino" else "bf16_tolerant"
        why.append(f"precision auto: model {'is' if bf16_tolerant else 'is not'} marked {flag}, "
                   f"{'CPU has' if native else 'no'} native bfloat16")
    return f"{path} on {device}" + (f" [{'; '.join(why)}]" if why else "")
