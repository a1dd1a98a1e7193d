"""The settings of a training run, :class:`TrainConfig`, saved as ``<out>/train_config.json``.

This module holds every setting (the loss weights and the augmentation too)
and imports neither torch nor the network, so that the command line can be
built from these dataclasses quickly.

The defaults are the recipe of the default model (``normfuse-faithful``, see
``weights/README.md``): width 16, then two stages in one run:

1. ``epochs`` (120) epochs of the NormFuse letter's loss (Adam, lr 1e-3 divided
   by 10 every 40 epochs, batch 24, 128 x 128 crops): the autoencoder learns to
   split an image into structure and detail and to reconstruct it.
2. ``fusion_epochs`` epochs of the *fusion stage* (lr ``fusion_lr``): the
   decoder also learns to decode the fused features of a pair (what it decodes
   at test time), with the unsupervised objective of
   :func:`~normfuse.train.losses.fusion_loss`, while the letter's loss keeps the
   decomposition (weight ``reconstruction``); inputs are darkened, brightened
   and flattened at random (:class:`~normfuse.train.data.Photometric`) so that
   night scenes and low-contrast thermal cameras are seen in training.

``fusion_epochs=0`` gives the letter's recipe alone (``normfuse-letter``).
``init`` starts from a trained model instead of random weights (with
``epochs=0``: only the fusion stage).

Examples:
    >>> cfg = TrainConfig(data=["pairs/"], out="runs/x")
    >>> cfg.model["width"], cfg.epochs, cfg.fusion_epochs, cfg.fusion_loss["ir_priority"]
    (16, 120, 5, 0.0)
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TrainConfig", "LossWeights", "FusionLossWeights", "FAITHFUL_FUSION_LOSS", "Photometric", "CONFIG_FILE"]

#: Name of the run folder's settings file.
CONFIG_FILE = "train_config.json"


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (defaults: the letter's a1..a4 and lambda; SSIM window 11)."""

    a1: float = 0.5
    a2: float = 2.0
    a3: float = 3.0
    a4: float = 20.0
    lam: float = 5.0
    ssim_window: int = 11


@dataclass(frozen=True)
class FusionLossWeights:
    """Weights of :func:`~normfuse.train.losses.fusion_loss`.

    Attributes:
        intensity: weight of the intensity term.
        gradient: weight of the gradient term.
        ssim: weight of the SSIM term.
        gradient_gain: scales the target gradient (``> 1`` asks for a fused
            image sharper than either source).
        base_sigma: the intensity target.  ``0``: the brighter source,
            ``max(I, V)``.  ``> 0``: the brighter *base* (Gaussian blur of this
            sigma, in pixels) plus the stronger *detail* (source minus base), so
            that a warm target on a flat thermal background keeps its contrast
            over a bright visible background.
        ir_priority: with ``base_sigma > 0``, where the visible base is the
            brighter one the target base moves this fraction of the way down to
            the IR base (``0``: the brighter base; ``0.5``: half-way), so that
            warm targets keep their contrast against a bright visible
            background; dark visible scenes keep the (brighter) IR base.
        detail_gain: with ``base_sigma > 0``, scales the stronger detail in the
            target (``> 1``: local contrast above either source's, an unsharp
            mask of the fused base; ``1``: the stronger detail as it is).
        detail_balance: how the stronger detail is chosen: ``|D_I| / s_I ** b``
            against ``|D_V| / s_V ** b``, with ``s`` the standard deviation of
            each source's detail over the image and ``b`` this value (``0``:
            raw magnitudes; ``1``: relative to each source's own contrast, so a
            faint warm target in a flat thermal image counts).
        detail_power: how the target's detail combines the sources' details.
            ``0``: per pixel, the stronger one (a switch, which adds edges of
            its own where the choice flips); ``q > 0``: a blend weighted by each
            source's local detail energy (``|D|`` blurred by ``detail_sigma``)
            to the power ``q`` (larger: closer to the switch).
        detail_sigma: that blur, in pixels.
        range_window: with ``base_sigma > 0``, the target is clipped to the
            range of both sources over this many pixels square (``7``: the
            window of the ``HALO`` measure; ``0``: off), so it has no rim
            brighter, or dip darker, than any source pixel nearby.
        overshoot: weight of the overshoot term, the mean of how far the fused
            image leaves the range of both sources over ``range_window``
            pixels square (a one-sided penalty on rims and dips, the ``HALO``
            measure's; needs ``range_window > 0``; ``0``: off).
        target_contrast: weight of the warm-target term
            (:func:`~normfuse.train.losses.warm_target_shortfall`): how far the
            contrast of the hottest 2 % of IR pixels in the fused image falls
            short of that in the average of the sources (``0``: off).
        floor: the target never falls below this fraction of the brighter
            base, so that no region where a source has signal turns black
            (``0``: no floor).
        dark: weight of the dark term, the mean of how far the fused image
            falls below ``floor`` times the brighter base (a one-sided
            penalty: a black crush costs more than the L1 towards the target).
        contrast: weight of the contrast term, the L1 distance between the
            standard deviations of the fused image and of the intensity target
            (per image), which keeps the fused image's global contrast.
        ir_salience: with ``base_sigma > 0``, adds this times how much warmer
            the IR image (blurred by ``salience_sigma`` pixels, so its noise
            is not amplified) is than its own base, ``relu(G(I) - B_I)``: warm
            targets stand out without pulling bright visible areas down
            (``0``: off).
        salience_sigma: that blur, in pixels.
        highlight: weight of the highlight term, the mean of how far the
            fused image falls below the visible image where the visible image
            is at least ``highlight_level`` (a one-sided penalty: bright
            visible areas such as skies and lamps are kept; ``0``: off).
        highlight_level: that level, on the [0, 1] scale.
        ssim_window: SSIM window side.

    The class defaults are the recipe of ``normfuse-robust`` (so its shipped
    settings file reads as it was run); :data:`FAITHFUL_FUSION_LOSS` is the
    recipe of the default model, ``normfuse-faithful``.
    """

    intensity: float = 4.0
    gradient: float = 10.0
    ssim: float = 0.25
    gradient_gain: float = 1.5
    base_sigma: float = 10.0
    ir_priority: float = 0.5
    detail_gain: float = 2.0
    detail_balance: float = 0.0
    floor: float = 0.3
    dark: float = 30.0
    contrast: float = 4.0
    ssim_window: int = 11
    ir_salience: float = 0.0
    salience_sigma: float = 2.0
    highlight: float = 0.0
    highlight_level: float = 240 / 255
    detail_power: float = 0.0
    detail_sigma: float = 1.0
    range_window: int = 0
    overshoot: float = 0.0
    target_contrast: float = 0.0


#: The fusion loss of the default model (``normfuse-faithful``): no pull towards a cold IR base, no detail or gradient
#: gain, warm targets from the IR image's salience, bright visible areas kept.
FAITHFUL_FUSION_LOSS: dict[str, float] = {
    **dataclasses.asdict(FusionLossWeights()),
    "ir_priority": 0.0, "detail_gain": 1.0, "gradient_gain": 1.0, "ir_salience": 1.0, "highlight": 10.0,
}

@dataclass(frozen=True)
class Photometric:
    """Random brightness and contrast changes, drawn independently for the IR and the visible crop.

    With probability ``p_gamma`` a crop becomes ``x ** g`` with ``log g``
    uniform in ``[log gamma_min, log gamma_max]`` (``g > 1`` darkens: night
    scenes; ``g < 1`` brightens); with probability ``p_flat`` its contrast is
    scaled about its mean by a factor uniform in ``[flat_min, 1]`` (a flat,
    low-contrast thermal image).  ``p_gamma = p_flat = 0`` switches it off.

    Examples:
        >>> import numpy as np
        >>> x = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
        >>> Photometric(p_gamma=0, p_flat=0)(x, np.random.default_rng(0)) is x
        True
        >>> y = Photometric(p_gamma=1, gamma_min=2, gamma_max=2, p_flat=0)(x, np.random.default_rng(0))
        >>> bool(np.allclose(y, x ** 2))
        True
    """

    p_gamma: float = 0.5
    gamma_min: float = 0.6
    gamma_max: float = 3.0
    p_flat: float = 0.25
    flat_min: float = 0.3

    def __post_init__(self) -> None:
        if not (0 <= self.p_gamma <= 1 and 0 <= self.p_flat <= 1):
            raise ValueError(f"p_gamma and p_flat must be in [0, 1], got {self.p_gamma}, {self.p_flat}")
        if not 0 < self.gamma_min <= self.gamma_max or not 0 < self.flat_min <= 1:
            raise ValueError(f"need 0 < gamma_min <= gamma_max and 0 < flat_min <= 1, got {self}")

    @property
    def active(self) -> bool:
        return self.p_gamma > 0 or self.p_flat > 0

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(H, W)`` float32 crop in [0, 1] -> changed crop (``x`` itself when nothing is drawn)."""
        if self.p_gamma > 0 and rng.random() < self.p_gamma:
            g = math.exp(rng.uniform(math.log(self.gamma_min), math.log(self.gamma_max)))
            x = np.power(np.clip(x, 0, 1), g, dtype=np.float32)
        if self.p_flat > 0 and rng.random() < self.p_flat:
            m = x.mean()
            x = (m + (x - m) * rng.uniform(self.flat_min, 1.0)).astype(np.float32)
        return x


def _default_model() -> dict[str, Any]:
    return {"width": 16}


def _setting(help: str, default: Any = None, factory: Any = None) -> Any:
    """A dataclass field with its command-line help in the metadata (``normfuse train`` is built from these)."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Every setting of a training run.

    Data:
        data: folders, each with ``ir/`` and ``vis/`` (a pair shares a file name).
        split: one JSON split file per folder whose ``"train"`` list is used,
            ``None`` (or a ``None`` entry) for all pairs of that folder.
        crop_size, crops_per_image, random_crop, flip: the crops of each epoch.
        photometric: :class:`~normfuse.train.data.Photometric` fields (the
            brightness/contrast augmentation of the fusion stage).

    Optimisation: ``epochs``, ``batch_size``, ``lr``, ``lr_step_epochs``,
    ``lr_gamma`` (stage 1); ``fusion_epochs``, ``fusion_batch_size``,
    ``fusion_lr`` (stage 2, its lr constant), ``freeze_encoder`` (stage 2
    trains the decoder only); ``max_steps`` stops early; ``seed``.

    Losses: ``loss`` (the letter's a1..a4, lambda), ``reconstruction`` (weight of
    the letter's loss in the fusion stage), ``fusion_loss``
    (:class:`~normfuse.train.losses.FusionLossWeights` fields).

    Model: ``model`` (:class:`~normfuse.network.NormFuseConfig` fields),
    ``init`` (a model to start from: a folder, or a name of
    :func:`normfuse.list_models`), ``fusion`` (the fusion rule of the trained
    model, e.g. ``{"structure": "sum", "detail": "sum", "skip": "sum"}``).

    Fine-tuning for bfloat16 (off by default): ``freeze_norm_stats``,
    ``bf16_consistency``, ``bf16_error_scale``, ``bf16_path``, ``distill``, ``distill_floor`` (see
    :mod:`normfuse.train.precision`).

    Running: ``out`` (the run folder), ``bf16`` (autocast: fast only on CPUs with
    native bfloat16), ``channels_last``, ``num_workers``, ``device``,
    ``progress``.
    """

    data: list[str] = _setting("folders with ir/ and vis/ (a pair shares a file name)", factory=list)
    split: list[str | None] | None = _setting("one JSON split file per --data folder whose 'train' list is used "
                                              "('none': all pairs of that folder)", None)
    out: str = _setting("run folder", "runs/normfuse")
    epochs: int = _setting("epochs of the letter's loss (stage 1)", 120)
    batch_size: int = _setting("crops per batch", 24)
    lr: float = _setting("stage 1 learning rate", 1e-3)
    lr_step_epochs: int = _setting("stage 1: divide the learning rate every this many epochs", 40)
    lr_gamma: float = _setting("stage 1: by this factor", 0.1)
    fusion_epochs: int = _setting("epochs of the fusion stage (stage 2; 0: the letter's recipe alone)", 5)
    fusion_lr: float = _setting("stage 2 learning rate (constant)", 3e-4)
    fusion_batch_size: int = _setting("stage 2 crops per batch", 8)
    crop_size: int = _setting("side of the square training crops", 128)
    crops_per_image: int = _setting("crops per pair and epoch", 2)
    random_crop: bool = _setting("random crops (else centre crops)", True)
    flip: bool = _setting("random horizontal and vertical flips", True)
    photometric: dict[str, float] = _setting("stage 2 brightness/contrast augmentation (Photometric fields)",
                                             factory=lambda: dataclasses.asdict(Photometric()))
    bf16: bool = _setting("bfloat16 autocast (fast only on CPUs with native bfloat16)", False)
    channels_last: bool = _setting("channels-last memory format", False)
    seed: int = _setting("random seed", 0)
    max_steps: int | None = _setting("stop after this many optimisation steps", None)
    num_workers: int = _setting("data loader worker processes", 0)
    device: str = _setting("cpu or cuda", "cpu")
    progress: bool = _setting("progress bar", True)
    model: dict[str, Any] = _setting("NormFuseConfig fields of a new model", factory=_default_model)
    loss: dict[str, Any] = _setting("the letter's loss weights (a1..a4, lam, ssim_window)",
                                    factory=lambda: dataclasses.asdict(LossWeights()))
    reconstruction: float = _setting("stage 2: weight of the letter's loss (0: not computed)", 0.0)
    freeze_encoder: bool = _setting("stage 2 trains only the decoder (the encoder keeps stage 1's decomposition)", True)
    fusion_loss: dict[str, Any] = _setting("stage 2: fusion loss weights (FusionLossWeights fields; default: "
                                           "normfuse-faithful's, FAITHFUL_FUSION_LOSS)",
                                           factory=lambda: dict(FAITHFUL_FUSION_LOSS))
    init: str | None = _setting("start from this model: a folder or a name of normfuse.list_models()", None)
    freeze_norm_stats: bool = _setting("keep the normalisations' running statistics fixed", False)
    bf16_consistency: float = _setting("weight of the bf16-versus-fp32 fused-image term", 0.0)
    bf16_error_scale: float = _setting("that term's rounding error in multiples of bfloat16's", 1.0)
    bf16_path: str = _setting("the bf16 path that term simulates: torch (the fusion plan, first and last layers in "
                              "fp32) or openvino (the OpenVINO graph, every layer in bf16)", "torch")
    distill: float = _setting("weight of the fused-image term towards the --init model", 0.0)
    distill_floor: float = _setting("distill only where the init model's fused image is at least this fraction of "
                                    "max(IR, visible) (0: everywhere; e.g. 0.5 skips where it is crushed)", 0.0)
    fusion: dict[str, str] | None = _setting("fusion rule of the trained model, STRUCTURE:DETAIL:SKIP "
                                             "(e.g. sum:sum:sum; default: the model's)", None)

    def __post_init__(self) -> None:
        if isinstance(self.data, (str, os.PathLike)):
            self.data = [str(self.data)]
        self.data = [str(d) for d in self.data]
        if isinstance(self.split, (str, os.PathLike)):
            self.split = [str(self.split)]
        if self.split is not None and len(self.split) != len(self.data):
            raise ValueError(f"give one split per data folder ({len(self.data)}), got {len(self.split)}: "
                             "use None (or 'none' on the command line) for a folder without one")
        for name in ("epochs", "fusion_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.epochs + self.fusion_epochs == 0:
            raise ValueError("nothing to train: epochs and fusion_epochs are both 0")
        if min(self.batch_size, self.fusion_batch_size) < 1 or self.crop_size < 16:
            raise ValueError(f"batch sizes must be >= 1 and crop_size >= 16, got {self.batch_size}, "
                             f"{self.fusion_batch_size}, {self.crop_size}")
        self._check_bf16_settings()
        if not 0 <= self.distill_floor <= 1:
            raise ValueError(f"distill_floor must be in [0, 1], got {self.distill_floor}")
        if self.distill and self.init is None:
            raise ValueError("distill keeps the fused image close to the init model's: set init")
        Photometric(**self.photometric)
        FusionLossWeights(**self.fusion_loss)
        LossWeights(**self.loss)

    def _check_bf16_settings(self) -> None:
        if not self.bf16_error_scale > 0:
            raise ValueError(f"bf16_error_scale must be positive, got {self.bf16_error_scale}")
        if self.bf16_path not in ("torch", "openvino"):
            raise ValueError(f"bf16_path must be 'torch' or 'openvino', got {self.bf16_path!r}")
        if self.bf16_consistency and self.bf16:
            raise ValueError("bf16_consistency compares with exact float32 output: it needs bf16=False")

    @property
    def total_epochs(self) -> int:
        """Epochs of both stages."""
        return self.epochs + self.fusion_epochs

    def splits(self) -> list[str | None]:
        """The split file of each data folder (``None``: all pairs)."""
        return list(self.split) if self.split is not None else [None] * len(self.data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys raise a ValueError naming them.

        Files written before the fusion stage existed (one ``data`` folder, no
        ``fusion_epochs``) are read as the runs they were: ``fusion_epochs=0``.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown training settings: {unknown}")
        data = dict(data)
        data.setdefault("fusion_epochs", 0)
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except ValueError as e:
            raise ValueError(f"{str(path)!r}: {e}") from None
