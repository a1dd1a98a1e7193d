"""Exporting the fusion forward of a network to ONNX or OpenVINO IR.

The exported graph is the luminance fusion of :meth:`NormFuseNet.fuse
<normfuse.network.NormFuseNet.fuse>` with the model's own fusion rule: two
inputs ``ir`` and ``vis``, each ``(B, 1, H, W)`` float32 in [0, 1], and one
output ``fused``, ``(B, 1, H, W)`` float32 in [0, 1]; batch, height and width
are dynamic (height and width at least 8, as for :meth:`NormFuser.fuse
<normfuse.NormFuser.fuse>`).  Colour handling (YCbCr, the visible chroma),
dtype conversion and tiling stay on the Python side: feed the exported model
the luminance of the visible image (BT.601) and the grey thermal image.

``format="onnx"`` needs ``pip install 'normfuse[onnx]'`` (onnx, onnxscript;
the graph is written with :func:`torch.onnx.export`); ``format="openvino"``
needs ``pip install 'normfuse[openvino]'`` (``model.xml`` + ``model.bin`` in
float32, converted with :func:`openvino.convert_model`).

Examples:
    >>> import torch
    >>> from normfuse.network import NormFuseConfig, NormFuseNet
    >>> graph = FusionGraph(NormFuseNet(NormFuseConfig(width=8)))
    >>> graph(torch.rand(1, 1, 16, 24), torch.rand(1, 1, 16, 24)).shape
    torch.Size([1, 1, 16, 24])
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ._version import __version__
from .network import NormFuseNet

__all__ = ["EXPORT_FORMATS", "ExportSupportMissing", "FusionGraph", "export_model", "to_openvino", "openvino_module"]

ExportFormat = Literal["onnx", "openvino"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("onnx", "openvino")

#: What an exported folder holds: the graph file(s) and ``export.json`` describing its inputs and output.
FILES: dict[str, tuple[str, ...]] = {"onnx": ("model.onnx",), "openvino": ("model.xml", "model.bin")}
INPUT_NAMES = ("ir", "vis")
OUTPUT_NAME = "fused"
_EXAMPLE_SIZE = (64, 80)  # traced with this size; height and width are dynamic in the result


class ExportSupportMissing(ImportError):
    """The packages a format needs are not installed (the message names the extra: ``normfuse[onnx]``...)."""


def _require(module: str, extra: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExportSupportMissing(
            f"{what} needs {module}, which is not installed: pip install 'normfuse[{extra}]'"
        ) from exc


def openvino_module(what: str = "the OpenVINO backend") -> Any:
    """Import :mod:`openvino`, or raise :class:`ExportSupportMissing` naming ``pip install 'normfuse[openvino]'``."""
    return _require("openvino", "openvino", what)


class FusionGraph(nn.Module):
    """The fusion forward of ``net`` as a module with two inputs and one output, for export.

    A float32, eval-mode copy of ``net`` (later changes to ``net`` do not reach it).
    ``input_scale`` divides the first convolution's weights: with 255 the graph
    reads grey levels 0-255 instead of [0, 1], which bfloat16 holds exactly
    (the runtime backend's lever against bf16 drift); the output is in [0, 1] either way.

    Shapes:
        ``ir``, ``vis``: ``(B, 1, H, W)`` float32; output ``(B, 1, H, W)`` float32 in [0, 1].
    """

    def __init__(self, net: NormFuseNet, input_scale: float = 1.0):
        super().__init__()
        self.net = copy.deepcopy(net).to("cpu", torch.float32).eval()
        if input_scale != 1.0:
            conv = self.net.encoder.conv_in[0]
            if not isinstance(conv, nn.Conv2d):  # pragma: no cover - built by NormFuseNet
                raise TypeError("the encoder's first layer is not a convolution")
            with torch.no_grad():
                conv.weight.div_(input_scale)  # conv_in has no bias: conv(x / s) == conv_{w / s}(x)
        self.input_scale = float(input_scale)

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        return self.net.fuse(ir, vis)

    def example_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = _EXAMPLE_SIZE
        gen = torch.Generator().manual_seed(0)
        return tuple(torch.rand(1, self.net.config.in_channels, h, w, generator=gen) * self.input_scale
                     for _ in INPUT_NAMES)  # type: ignore[return-value]


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporters' progress messages and warnings (torch.onnx logs through ``logging``)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def to_openvino(net: NormFuseNet, input_scale: float = 1.0) -> Any:
    """The fusion forward of ``net`` as an in-memory :class:`openvino.Model` (float32, dynamic shapes).

    Raises:
        ExportSupportMissing: openvino is not installed (``pip install 'normfuse[openvino]'``).
    """
    ov = openvino_module()
    graph = FusionGraph(net, input_scale)
    shape = ov.PartialShape([-1, net.config.in_channels, -1, -1])
    with _quiet_export(), torch.no_grad():
        model = ov.convert_model(graph, example_input=graph.example_inputs(),
                                 input=[(name, shape) for name in INPUT_NAMES])
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    return model


def _write_onnx(net: NormFuseNet, path: Path) -> None:
    _require("onnx", "onnx", "exporting to ONNX")
    _require("onnxscript", "onnx", "exporting to ONNX")
    graph = FusionGraph(net)
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height", min=8), 3: torch.export.Dim("width", min=8)}
    with _quiet_export(), torch.no_grad():
        torch.onnx.export(graph, graph.example_inputs(), str(path), input_names=list(INPUT_NAMES),
                          output_names=[OUTPUT_NAME], dynamic_shapes={n: dims for n in INPUT_NAMES},
                          dynamo=True, external_data=False, verbose=False)


def _write_openvino(net: NormFuseNet, path: Path) -> None:
    ov = openvino_module("exporting to OpenVINO")
    ov.save_model(to_openvino(net), str(path), compress_to_fp16=False)  # the default would halve the weights


def _description(net: NormFuseNet, fmt: ExportFormat) -> dict[str, Any]:
    c = net.config.in_channels
    return {
        "format": fmt,
        "files": list(FILES[fmt]),
        "normfuse_version": __version__,
        "inputs": {n: {"shape": ["batch", c, "height", "width"], "dtype": "float32", "range": [0, 1]}
                   for n in INPUT_NAMES},
        "output": {OUTPUT_NAME: {"shape": ["batch", c, "height", "width"], "dtype": "float32", "range": [0, 1]}},
        "min_size": 8,
        "notes": "luminance fusion with the model's fusion rule; colour: fuse the visible luminance (YCbCr, "
                 "BT.601 full range) and keep its chroma",
        "model_config": net.config.to_dict(),
    }


def export_model(net: NormFuseNet, folder: str | os.PathLike, fmt: ExportFormat = "onnx",
                 overwrite: bool = False) -> Path:
    """Write the fusion forward of ``net`` to ``folder``; return the graph file (``model.onnx`` or ``model.xml``).

    ``folder`` gets the files of :data:`FILES` and ``export.json`` (inputs, output,
    ranges, the model's config).  Files are written to a temporary folder beside
    it and moved into place at the end, so a failed export leaves nothing behind.

    Raises:
        ValueError: an unknown format.
        FileExistsError: ``folder`` already holds an export and ``overwrite`` is false.
        ExportSupportMissing: the format's packages are not installed (the message names the extra).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{str(out)!r} is a file; give a folder to export into")
    names = [*FILES[fmt], "export.json"]
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{str(out)!r} already holds {', '.join(existing)}; pass overwrite=True (--overwrite)")
    writer = _write_onnx if fmt == "onnx" else _write_openvino
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".normfuse-export-") as tmp:
        writer(net, Path(tmp) / FILES[fmt][0])
        (Path(tmp) / "export.json").write_text(json.dumps(_description(net, fmt), indent=2) + "\n", encoding="utf-8")
        for n in names:
            shutil.move(str(Path(tmp) / n), str(out / n))
    return out / FILES[fmt][0]
