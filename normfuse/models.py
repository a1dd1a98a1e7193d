"""The named models shipped inside the package: :func:`list_models` and :data:`DEFAULT_MODEL`.

Each model is a folder ``normfuse/pretrained/<name>/`` with ``config.json``,
``model.safetensors`` and its model card ``README.md``;
``NormFuser.from_pretrained(name)`` loads it offline.

Examples:
    >>> [m.name for m in list_models()]
    ['normfuse-faithful', 'normfuse-robust', 'normfuse-letter', 'normfuse-roadscene']
    >>> get_model_info(DEFAULT_MODEL).default
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelInfo", "DEFAULT_MODEL", "list_models", "get_model_info", "PRETRAINED_DIR"]

#: Folder of the shipped model folders.
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"

#: What ``NormFuser.from_pretrained()`` loads.
DEFAULT_MODEL = "normfuse-faithful"


@dataclass(frozen=True)
class ModelInfo:
    """One shipped model.

    Attributes:
        name: what ``NormFuser.from_pretrained(name)`` takes.
        description: one line on what it is.
        training_data: the pairs it was trained on.
        folder: where its weights and model card are.
    """

    name: str
    description: str
    training_data: str
    folder: Path

    @property
    def default(self) -> bool:
        return self.name == DEFAULT_MODEL


_MODELS = (
    ModelInfo(
        "normfuse-faithful",
        "the default: the letter's model plus a fusion stage whose target keeps bright visible areas, adds no "
        "sharpening and lifts warm targets by their thermal salience; holds up on night and low-contrast scenes",
        "RoadScene train (180 pairs), then RoadScene train + LLVIP train (32 night pairs)",
        PRETRAINED_DIR / "normfuse-faithful",
    ),
    ModelInfo(
        "normfuse-robust",
        "the previous default: like normfuse-faithful but its fusion target pulls bright visible areas "
        "half-way to a cold IR background and doubles detail: grey highlights, haloes, amplified noise",
        "RoadScene train (180 pairs), then RoadScene train + LLVIP train (32 night pairs)",
        PRETRAINED_DIR / "normfuse-robust",
    ),
    ModelInfo(
        "normfuse-letter",
        "the NormFuse letter's recipe: its loss, schedule and fusion rule (all features summed), 120 epochs",
        "RoadScene train (180 pairs)",
        PRETRAINED_DIR / "normfuse-letter",
    ),
    ModelInfo(
        "normfuse-roadscene",
        "the previous default (0.1): the letter's model fine-tuned to give the same image in bfloat16 as in float32",
        "RoadScene train (180 pairs)",
        PRETRAINED_DIR / "normfuse-roadscene",
    ),
)


def list_models() -> list[ModelInfo]:
    """The shipped models, the default first."""
    return list(_MODELS)


def get_model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a shipped model.

    Raises:
        KeyError: no such model (the message lists the names).
    """
    for m in _MODELS:
        if m.name == name:
            return m
    raise KeyError(f"no shipped model {name!r}; the models are {[m.name for m in _MODELS]}")
