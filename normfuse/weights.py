"""Model folders: ``config.json`` + ``model.safetensors``; bundled, local and Hugging Face Hub sources.

Only safetensors files are read, so loading a model never unpickles data or
executes code from the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ._version import __version__
from .models import DEFAULT_MODEL, ModelInfo, get_model_info, list_models
from .network import NormFuseConfig, NormFuseNet

__all__ = [
    "WeightsError",
    "ModelNotFoundError",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "BUNDLED_DIR",
    "save_model_folder",
    "load_model_folder",
    "resolve_pretrained",
    "read_model_card",
    "write_model_card",
    "generated_model_card",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
#: The files of a model folder that are read (and downloaded from the hub); nothing else is.
MODEL_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
#: Folder of the default weights shipped inside the package.
BUNDLED_DIR = get_model_info(DEFAULT_MODEL).folder


class WeightsError(ValueError):
    """A model folder or weights file is missing, corrupt, or does not match the configuration."""


class ModelNotFoundError(OSError):
    """A model could not be located: no such folder, hub repo, revision or file, or no network."""


def resolve_pretrained(
    name_or_path: str | os.PathLike | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """Return a local folder holding ``config.json`` and ``model.safetensors``.

    ``None`` -> the default model (:data:`normfuse.models.DEFAULT_MODEL`); a
    name of :func:`normfuse.models.list_models` -> that shipped model (a name
    wins over a folder of the same name in the current directory); an existing
    folder -> itself; otherwise a
    Hugging Face Hub repo id, downloaded (or taken from the cache) with one
    :func:`huggingface_hub.snapshot_download` of :data:`MODEL_FILES` (the two
    files and the model card ``README.md``); nothing else is fetched.

    Raises:
        ModelNotFoundError: with one message that says what to try.
    """
    if name_or_path is None:
        return _shipped(get_model_info(DEFAULT_MODEL))
    if isinstance(name_or_path, str) and name_or_path in {m.name for m in list_models()}:
        return _shipped(get_model_info(name_or_path))
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.exists():
        raise ModelNotFoundError(f"{str(path)!r} is a file; from_pretrained expects a model folder or a hub repo id")
    name = str(name_or_path)
    if name.count("/") != 1 or name.startswith((".", "/", "~")) or "\\" in name:
        raise ModelNotFoundError(
            f"{name!r} is neither an existing folder nor a Hugging Face repo id ('org/name'), "
            f"nor a shipped model ({', '.join(m.name for m in list_models())})"
        )
    try:
        return _download(name, revision, cache_dir, local_files_only, token)
    except ModelNotFoundError as exc:  # 'runs/x' may be a mistyped folder as well as a repo id: say both
        near = f" ({str(path.parent)!r} exists: a mistyped folder?)" if path.parent.is_dir() else ""
        raise ModelNotFoundError(f"{name!r}: no such folder{near}, and no such Hub repo could be loaded: {exc}") from None


def _shipped(info: ModelInfo) -> Path:
    if not (info.folder / WEIGHTS_NAME).is_file():
        raise ModelNotFoundError(
            f"the weights of the shipped model {info.name!r} are missing from {str(info.folder)!r}; reinstall "
            "normfuse, or pass a folder or hub repo id to from_pretrained"
        )
    return info.folder


def _download(repo_id: str, revision, cache_dir, local_files_only: bool, token) -> Path:
    from huggingface_hub import constants as hf_constants
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import snapshot_download

    where = f"{repo_id!r}" + (f" at revision {revision!r}" if revision else "")

    def not_cached(filename: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"cannot get {filename!r} of {where}: not in the cache"
            + (f" {str(cache_dir)!r}" if cache_dir else "")
            + " and the hub cannot be reached (offline, HF_HUB_OFFLINE=1 or local_files_only=True). "
            "Download it once while online, pass the cache_dir that holds it, or pass a local model folder"
        )

    try:
        folder = Path(snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token,
            allow_patterns=list(MODEL_FILES), library_name="normfuse", library_version=__version__,
        ))
    # "from None": huggingface_hub's own message and chained HTTP errors add nothing to these.
    except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled):
        raise not_cached(CONFIG_NAME) from None
    except hf_errors.RevisionNotFoundError as exc:
        raise ModelNotFoundError(f"hub repo {repo_id!r} has no revision {revision!r}") from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise ModelNotFoundError(f"hub repo {repo_id!r} not found (or private: pass token=...); check the id") from exc
    except hf_errors.HFValidationError as exc:
        raise ModelNotFoundError(f"{repo_id!r} is not a valid Hugging Face repo id or revision: {exc}") from None
    except (hf_errors.HfHubHTTPError, OSError) as exc:
        raise ModelNotFoundError(f"cannot download {where}: {exc}") from exc
    offline = local_files_only or getattr(hf_constants, "is_offline_mode", lambda: hf_constants.HF_HUB_OFFLINE)()
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / filename).is_file():
            if offline:
                raise not_cached(filename) from None
            raise ModelNotFoundError(f"hub repo {where} has no file {filename!r}; is it a normfuse model?")
    return folder


def read_model_card(folder: str | os.PathLike) -> str | None:
    """The text of ``folder``'s ``README.md`` model card, or ``None`` if it has none."""
    path = Path(folder) / CARD_NAME
    return path.read_text(encoding="utf-8") if path.is_file() else None


def generated_model_card(config: NormFuseConfig) -> str:
    """A short model card for a model that has none: metadata (``library_name: normfuse``) and how to load it."""
    from huggingface_hub import ModelCard, ModelCardData

    card = ModelCard(
        f"# NormFuse model ({config.variant}, width {config.width})\n\n"
        "Load it with `normfuse.NormFuser.from_pretrained(<this folder or repo id>)`.\n"
        "Describe here the data, the training command and the metrics of this model.\n"
    )
    card.data = ModelCardData(library_name="normfuse", tags=["image-fusion", "infrared", "pytorch"])
    return str(card)


def write_model_card(folder: Path, config: NormFuseConfig, card: str | None = None,
                     fallback: str | None = None) -> None:
    """Write ``README.md`` into ``folder``: ``card`` if given; else keep an existing card; else ``fallback``;
    else :func:`generated_model_card` of ``config``."""
    target = folder / CARD_NAME
    if card is None and target.exists():
        return
    if card is None:
        card = fallback if fallback is not None else generated_model_card(config)
    target.write_text(card, encoding="utf-8")


def save_model_folder(net: NormFuseNet, folder: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (float32, contiguous) to ``folder``; return it.

    The weights file is written to a temporary name and renamed, so an
    interrupted save never leaves a truncated ``model.safetensors``.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
    meta = {"format": "pt", "model_type": "normfuse", **(metadata or {})}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(net.config.to_json() + "\n")
    return folder


def _check_state(net: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`WeightsError` if ``state``'s names or shapes differ from ``net``'s (``net`` may be on meta)."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if tuple(own[k].shape) != tuple(state[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    if shapes:
        problems.append(f"wrong shapes {shapes[:8]}")
    if problems:
        raise WeightsError(f"weights in {source} do not match the configuration: " + "; ".join(problems))


def load_model_folder(folder: str | os.PathLike, map_location: str | torch.device = "cpu") -> NormFuseNet:
    """Build a :class:`NormFuseNet` from a folder written by :func:`save_model_folder`.

    Raises:
        WeightsError: a file is missing, the config is invalid, the safetensors file
            is corrupt or truncated, or its tensors do not match the config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not w_path.is_file():
        pickles = sorted(p.name for p in folder.glob("*") if p.suffix.lower() in _PICKLE_SUFFIXES and p.is_file())
        if pickles:
            raise WeightsError(
                f"model folder {str(folder)!r} has no {WEIGHTS_NAME} but {', '.join(map(repr, pickles))}: "
                "normfuse loads only safetensors weights and never unpickles checkpoint files (unpickling can run "
                "arbitrary code). If you trust the checkpoint, load it yourself and re-save it with "
                "NormFuser(net).save_pretrained(folder)"
            )
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise WeightsError(f"model folder {str(folder)!r} has no {p.name}")
    try:
        cfg = NormFuseConfig.from_dict(json.loads(cfg_path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, TypeError, ValueError) as exc:
        raise WeightsError(f"{str(cfg_path)!r} is not a valid NormFuse config: {exc}") from exc
    try:  # build the network without memory first: a config may ask for any size
        with torch.device("meta"):
            skeleton = NormFuseNet(cfg)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{str(cfg_path)!r} describes a network that cannot be built: {exc}") from exc
    try:
        state = load_file(str(w_path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{str(w_path)!r} is not a readable safetensors file (corrupt or truncated?): {exc}") from exc
    _check_state(skeleton, state, repr(str(w_path)))  # names and shapes, before memory is allocated
    net = NormFuseNet(cfg)
    net.load_state_dict(state, strict=True)
    return net


#: Suffixes of pickle-based checkpoints, which are never loaded (named in the error message only).
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
