"""The user-facing API: :class:`NormFuser`.

Examples:
    >>> from normfuse import NormFuser
    >>> from normfuse.samples import sample_pair_paths
    >>> fuser = NormFuser.from_pretrained(device="cpu")
    >>> ir_path, vis_path = sample_pair_paths()
    >>> fused = fuser.fuse(ir_path, vis_path)        # paths in -> uint8 array out
    >>> fused.shape, fused.dtype
    ((450, 620), dtype('uint8'))
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ._version import __version__
from .devices import DeviceLike, Precision, resolve_device, resolve_precision, warn_if_bf16_emulated
from .inference import FusionPlan, plan_supported
from .inputs import ImageInput, ThermalRange, check_min_size, match_sizes, prepare, restore
from .network import Features, FusionRule, NormFuseConfig, NormFuseNet, fuse_features
from .registration.alignment import Alignment
from .registration.fusion import keep_visible_outside, register_inputs
from .runtime import Backend, bf16_tolerant_on, describe_choice, make_runtime, resolve_backend
from .tiling import tiled_map
from .weights import (
    CARD_NAME,
    generated_model_card,
    load_model_folder,
    read_model_card,
    resolve_pretrained,
    save_model_folder,
    write_model_card,
)

__all__ = ["NormFuser"]

#: Images with more pixels than this are fused tile by tile (see ``max_pixels``): on a CPU,
#: tiles are faster than whole images above about a megapixel, and they bound the memory.
DEFAULT_MAX_PIXELS = 1024 * 1024

#: Side of a tile when tiling.
DEFAULT_TILE_SIZE = 512


class NormFuser:
    """Fuse infrared and visible images with a NormFuse network.

    Args:
        model: a :class:`~normfuse.network.NormFuseNet` or a
            :class:`~normfuse.network.NormFuseConfig` (a new, *untrained* network);
            required.  Use :meth:`from_pretrained` for trained weights.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:1"`` or a :class:`torch.device`.
        precision: ``"fp32"`` (exact), ``"bf16"`` (every layer but those of
            :data:`~normfuse.network.BF16_FLOAT32_LAYERS` in bfloat16: faster on
            CPUs with native bf16, see the project's ``docs/performance.md``) or
            ``"auto"`` (the default: bf16 for a model checked to tolerate it,
            ``config.bf16_tolerant``, on a CPU with native bf16, else fp32; see
            :func:`normfuse.devices.resolve_precision`).
        max_pixels: images larger than this are fused in tiles of ``tile_size``
            so that memory stays bounded.
        tile_size: side of a tile when tiling.
        backend: what runs the network in :meth:`fuse`: ``"torch"`` (the
            default), ``"openvino"`` (``pip install 'normfuse[openvino]'``;
            CPU only) or ``"auto"`` (OpenVINO where it is installed, else torch,
            silently); see :mod:`normfuse.runtime`.  :meth:`describe` says which
            path runs.  :meth:`encode`, :meth:`decode` and a ``rule`` other than
            the model's always run in torch.

    All inference runs in eval mode under :func:`torch.inference_mode`, through
    :class:`~normfuse.inference.FusionPlan` (the folded network, in the chosen
    precision) when the network can be folded: :meth:`fuse`, :meth:`encode`
    and :meth:`decode` all use it, so ``decode(fuse_features(encode(ir),
    encode(vis)))`` is exactly ``fuse(ir, vis)`` (for an image fused in one
    piece) in both precisions.  A network the plan cannot fold
    (:func:`~normfuse.inference.plan_supported`) runs layer by layer, in bf16
    under :func:`torch.autocast`.

    Attributes:
        model_card: the text of the ``README.md`` model card of the folder the
            model was loaded from (``None`` for a new network); written by
            :meth:`save_pretrained` and :meth:`push_to_hub`.
    """

    def __init__(
        self,
        model: NormFuseNet | NormFuseConfig | None = None,
        device: DeviceLike = "auto",
        precision: Precision = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        tile_size: int = DEFAULT_TILE_SIZE,
        backend: Backend = "torch",
    ):
        if model is None:
            raise TypeError(
                "NormFuser needs a model: NormFuser.from_pretrained() loads trained weights; "
                "NormFuser(NormFuseConfig(...)) builds a new, untrained network"
            )
        if isinstance(model, NormFuseConfig):
            model = NormFuseNet(model)
        if not isinstance(model, NormFuseNet):
            raise TypeError(f"model must be a NormFuseNet or NormFuseConfig, got {type(model).__name__}")
        if tile_size < 64:
            raise ValueError(f"tile_size must be at least 64, got {tile_size}")
        self.net = model.eval()
        self.max_pixels = int(max_pixels)
        self.tile_size = int(tile_size)
        self._requested_precision = precision
        self._requested_backend = backend
        self.device = torch.device("cpu")
        self.precision: Literal["fp32", "bf16"] = "fp32"
        self.model_card: str | None = None
        self.to(device)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike | None = None,
        *,
        device: DeviceLike = "auto",
        precision: Precision = "auto",
        backend: Backend = "torch",
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **kwargs,
    ) -> NormFuser:
        """Load trained weights.

        Args:
            name_or_path: ``None`` for the weights bundled with the package
                (offline), a local folder written by :meth:`save_pretrained`, or a
                Hugging Face Hub repo id such as ``"org/normfuse-roadscene"``.
            device: as in the constructor.
            precision: as in the constructor.
            backend: as in the constructor (``"torch"``, ``"openvino"`` or ``"auto"``).
            revision: passed to :func:`huggingface_hub.snapshot_download` for repo ids.
            cache_dir: passed to :func:`huggingface_hub.snapshot_download` for repo ids.
            local_files_only: passed to :func:`huggingface_hub.snapshot_download` for repo ids.
            token: passed to :func:`huggingface_hub.snapshot_download` for repo ids.
            **kwargs (Any): ``max_pixels`` and ``tile_size`` of the constructor.

        Only ``config.json``, ``model.safetensors`` and the ``README.md`` model
        card (kept as text in :attr:`model_card`) are read: loading a model,
        even from an untrusted repo, never unpickles data or runs code.

        Raises:
            normfuse.weights.WeightsError: missing, corrupt or mismatching files.
            normfuse.weights.ModelNotFoundError: the repo, revision or file cannot be
                found or downloaded (the message says what to try).
        """
        folder = resolve_pretrained(name_or_path, revision, cache_dir, local_files_only, token)
        dev = resolve_device(device)
        net = load_model_folder(folder, map_location="cpu")
        fuser = cls(net, device=dev, precision=precision, backend=backend, **kwargs)
        fuser.model_card = read_model_card(folder)
        return fuser

    def save_pretrained(self, folder: str | os.PathLike, model_card: str | None = None) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card to ``folder``.

        The card is ``model_card`` if given; else an existing card in ``folder``
        is kept; else :attr:`model_card` is written, else a short generated card.
        """
        out = save_model_folder(self.net, folder)
        write_model_card(out, self.config, model_card, fallback=self.model_card)
        return out

    def push_to_hub(self, repo_id: str, *, token: str | None = None, private: bool = False,
                    commit_message: str = "Upload NormFuse model", model_card: str | None = None) -> str:
        """Upload the model to the Hugging Face Hub; return the commit URL.

        The card uploaded is ``model_card`` if given, else :attr:`model_card` (the
        card of the folder the model was loaded from).  A model without a card
        gets a short generated one only if the repo has no ``README.md`` yet: an
        existing card on the hub is never replaced by a placeholder.
        """
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token, library_name="normfuse", library_version=__version__)
        api.create_repo(repo_id, private=private, exist_ok=True)
        card = model_card if model_card is not None else self.model_card
        if card is None and not api.file_exists(repo_id, CARD_NAME):
            card = generated_model_card(self.config)
        with tempfile.TemporaryDirectory() as tmp:
            save_model_folder(self.net, tmp)
            if card is not None:
                (Path(tmp) / CARD_NAME).write_text(card, encoding="utf-8")
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
        return str(info)

    def export(self, folder: str | os.PathLike, format: Literal["onnx", "openvino"] = "onnx",
               overwrite: bool = False) -> Path:
        """Write the luminance fusion forward to ``folder`` as ONNX or OpenVINO IR; return the graph file.

        Inputs ``ir`` and ``vis`` ``(B, 1, H, W)`` float32 in [0, 1], output ``fused``
        likewise; dynamic batch, height and width.  See :func:`normfuse.export.export_model`
        (needs ``pip install 'normfuse[onnx]'`` or ``'normfuse[openvino]'``).
        """
        from .export import export_model

        return export_model(self.net, folder, format, overwrite)

    def to(self, device: DeviceLike) -> NormFuser:
        """Move the model to ``device`` (and re-resolve ``precision`` and ``backend="auto"`` for it); return ``self``."""
        self.device = resolve_device(device)
        self.backend = resolve_backend(self._requested_backend, self.device)
        self.precision = resolve_precision(self._requested_precision, self.device,
                                           bf16_tolerant_on(self.backend, self.config))
        self.runtime = make_runtime(self.backend, self.net, self.precision)
        if self.precision == "bf16":
            warn_if_bf16_emulated(self.device)
        fmt = torch.channels_last if self.precision == "bf16" else torch.contiguous_format
        self.net = self.net.to(device=self.device, memory_format=fmt).eval()
        return self

    @property
    def config(self) -> NormFuseConfig:
        return self.net.config

    def __repr__(self) -> str:
        c = self.config
        return (f"NormFuser(variant={c.variant!r}, width={c.width}, device={str(self.device)!r}, "
                f"precision={self.precision!r}, backend={self.backend!r})")

    def describe(self) -> str:
        """One line naming the path :meth:`fuse` runs (backend, precision, device) and why ``"auto"`` chose it."""
        return describe_choice(self.backend, self._requested_backend, self.precision, self._requested_precision,
                               bf16_tolerant_on(self.backend, self.config), self.device, self.runtime)

    # ------------------------------------------------------------------ tensor-level steps
    def _plan(self) -> FusionPlan | None:
        """The folded network in the current precision, or ``None`` if it cannot be folded.

        Rebuilt at every call (milliseconds) so that it always matches :attr:`net`.
        """
        if plan_supported(self.net) is not None:
            return None
        return FusionPlan(self.net, dtype=self._dtype)

    @property
    def _dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def _layer_by_layer(self):
        """Inference mode, and autocast in bf16: how a network the plan cannot fold runs."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.precision == "bf16":
            stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
        return stack

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, dtype=torch.float32)
        return x.contiguous(memory_format=torch.channels_last) if self.precision == "bf16" else x

    def _encode_luma(self, plan: FusionPlan | None, luma: torch.Tensor) -> Features:
        if plan is not None:
            with torch.inference_mode():
                return plan.encode(luma).map(lambda t: t.float())
        with self._layer_by_layer():
            return self.net.encode(self._to_device(luma)).map(lambda t: t.float())

    def _decode_luma(self, plan: FusionPlan | None, feats: Features) -> torch.Tensor:
        if plan is not None:
            with torch.inference_mode():
                return plan.decode(feats).clamp(0, 1)
        with self._layer_by_layer():
            out = self.net.decode(feats.map(self._to_device), self.config.fusion_norm_stats)
        return out.float().clamp(0, 1)

    def _fuse_luma(self, ir: torch.Tensor, vis: torch.Tensor, rule: FusionRule | None) -> torch.Tensor:
        plan = self._plan()

        def fuse_tile(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            if self.runtime is not None and rule in (None, self.config.fusion):
                return self.runtime.fuse_tile(a, b)
            if plan is None:
                feats = self.fuse_features(self._encode_luma(None, a), self._encode_luma(None, b), rule)
                return self._decode_luma(None, feats)
            with torch.inference_mode():
                return plan(a, b, rule).clamp(0, 1)  # the plan moves its inputs to the model's device

        h, w = ir.shape[-2:]
        if h * w > self.max_pixels and self.config.fusion_norm_stats == "running":
            return tiled_map(fuse_tile, ir, vis, tile=self.tile_size, margin=32)
        return fuse_tile(ir, vis)

    # ------------------------------------------------------------------ public API
    def encode(self, image: ImageInput) -> Features:
        """Encode one image into :class:`~normfuse.network.Features` (S, D and skips).

        ``image`` is anything :meth:`fuse` accepts; colour images are reduced to
        their luminance.  Every map is ``(B, width, H, W)`` float32 on :attr:`device`
        (computed in the fuser's precision, as :meth:`fuse` computes it).
        """
        p = prepare(image, "vis")
        check_min_size(p, "image")
        return self._encode_luma(self._plan(), p.luma)

    def decompose(self, image: ImageInput) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the structure and detail maps ``(S, D)`` of one image, each ``(B, width, H, W)`` float32."""
        f = self.encode(image)
        return f.structure, f.detail

    def fuse_features(self, ir: Features, vis: Features, rule: FusionRule | str | None = None) -> Features:
        """Combine two encodings (default rule: ``config.fusion``).

        ``rule`` is a :class:`~normfuse.network.FusionRule` or a string: ``"max"``
        (one combination for all terms) or ``"sum:max:sum"`` (STRUCTURE:DETAIL:SKIP).
        In bf16 the features are combined in bfloat16, as :meth:`fuse` combines
        them; the result is float32.
        """
        rule = self.config.fusion if rule is None else rule
        if self.precision == "fp32":
            return fuse_features(ir, vis, rule)
        to_bf16 = lambda t: t.to(torch.bfloat16)  # noqa: E731
        return fuse_features(ir.map(to_bf16), vis.map(to_bf16), rule).map(lambda t: t.float())

    def decode(self, features: Features) -> torch.Tensor:
        """Decode features into a ``(B, 1, H, W)`` float32 luminance image in [0, 1] on :attr:`device`.

        ``decode(fuse_features(encode(ir), encode(vis)))`` computes exactly what
        :meth:`fuse` computes for an image fused in one piece, in both precisions
        (bit-identical). The layer-by-layer reference is :meth:`NormFuseNet.fuse
        <normfuse.network.NormFuseNet.fuse>` (``self.net``); in fp32 it rounds
        differently, by at most 8.3e-7 on the 40 TNO pairs for the default model.
        """
        return self._decode_luma(self._plan(), features)

    def fuse(
        self,
        ir: ImageInput,
        vis: ImageInput,
        *,
        resize: Literal["ir", "vis"] | None = None,
        thermal_range: ThermalRange = "auto",
        percentiles: tuple[float, float] = (1.0, 99.0),
        rule: FusionRule | str | None = None,
        alignment: Alignment | str | os.PathLike | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Fuse an infrared and a visible image.

        Args:
            ir: thermal image: array ``(H, W)`` (uint8, uint16, float in [0, 1]),
                tensor ``(H, W)``, ``(1, H, W)`` or ``(B, 1, H, W)`` in [0, 1], or a path.
                Three identical channels are accepted as grey.
            vis: visible image, the same forms, or colour ``(H, W, 3)`` /
                ``(3, H, W)`` / ``(B, 3, H, W)``.
            resize: if the sizes differ, ``"ir"`` resizes the IR image to the
                visible size and ``"vis"`` the visible image to the IR size;
                ``None`` (default) raises a ValueError naming both sizes.
            thermal_range: IR scaling: ``"auto"`` (default: ``"percentile"`` for
                uint16 arrays and files, as thermal cameras' own software stretches
                radiometric data that fills a small part of the range; ``"dtype"``
                for 8-bit and float images), ``"dtype"`` (by the dtype's range),
                ``"minmax"`` or ``"percentile"`` (per-image stretch).
            percentiles: the ``"percentile"`` policy's clip points.
            rule: override ``config.fusion``: a :class:`~normfuse.network.FusionRule`,
                ``"max"`` or ``"sum:max:sum"`` (STRUCTURE:DETAIL:SKIP).
            alignment: register a pair that is not aligned pixel for pixel (see
                :mod:`normfuse.registration`): an :class:`~normfuse.registration.Alignment`, the
                path of one saved as JSON (a rig file), or ``"auto"`` (register this
                pair; an unreliable result raises a ``RegistrationError``). The IR image is
                resampled onto the visible grid; where it has no data the fused image is the
                visible image (never a cold border).

        Returns:
            The fused image in the visible input's form: numpy in -> numpy out
            with the same dtype (uint8 stays uint8), tensor in -> tensor out on
            the same device, paths -> numpy; a colour visible image gives a
            colour result with the visible chroma (YCbCr, BT.601 full range).

        Raises:
            TypeError, ValueError: unsupported input (the message names it), or
                images under 8 x 8 pixels (:data:`normfuse.inputs.MIN_SIZE`).
            normfuse.io.ImageReadError: a path cannot be read.
            normfuse.registration.AlignmentSizeError: ``alignment`` was made for other image sizes.

        Warns:
            normfuse.inputs.NarrowRangeWarning: a uint16 IR image spans under 1/8 of
                its range under ``thermal_range="dtype"``, or a uint16 visible image
                stays under 1/8 of it (12-bit data).
        """
        rule = None if rule is None else FusionRule.parse(rule)
        p_ir = prepare(ir, "ir", thermal_range, percentiles)
        p_vis = prepare(vis, "vis")
        valid = None if alignment is None else register_inputs(alignment, p_ir, p_vis, ir)
        match_sizes(p_ir, p_vis, resize)
        check_min_size(p_vis, "ir and vis images" if resize is None else f"{'vis' if resize == 'ir' else 'ir'} image")
        fused = keep_visible_outside(self._fuse_luma(p_ir.luma, p_vis.luma, rule), p_vis.luma, valid)
        return restore(fused, p_vis)

    __call__ = fuse
