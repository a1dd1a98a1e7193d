"""Model folders: ``config.json`` + ``model.safetensors``; bundled, local and Hugging Face Hub sources.

Only safetensors files are read, so loading a model never unpickles data or
executes code from the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .network import NormFuseConfig, NormFuseNet

__all__ = [
    "WeightsError",
    "ModelNotFoundError",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "BUNDLED_DIR",
    "save_model_folder",
    "load_model_folder",
    "load_state_dict_strict",
    "resolve_pretrained",
    "write_model_card",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
#: Folder of the default weights shipped inside the package.
BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained" / "normfuse-roadscene"


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

    ``None`` -> the bundled weights; an existing folder -> itself; otherwise a
    Hugging Face Hub repo id, downloaded (or taken from the cache) with
    :func:`huggingface_hub.hf_hub_download`.  Only those two files are fetched.

    Raises:
        ModelNotFoundError: with one message that says what to try.
    """
    if name_or_path is None:
        if not (BUNDLED_DIR / WEIGHTS_NAME).is_file():
            raise ModelNotFoundError(
                f"the bundled default weights are missing from {str(BUNDLED_DIR)!r}; reinstall normfuse, "
                "or pass a folder or hub repo id to from_pretrained"
            )
        return BUNDLED_DIR
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.exists():
        raise ModelNotFoundError(f"{str(path)!r} is a file; from_pretrained expects a model folder or a hub repo id")
    name = str(name_or_path)
    if name.count("/") != 1 or name.startswith((".", "/", "~")) or "\\" in name:
        raise ModelNotFoundError(f"{name!r} is neither an existing folder nor a Hugging Face repo id ('org/name')")
    return _download(name, revision, cache_dir, local_files_only, token)


def _download(repo_id: str, revision, cache_dir, local_files_only: bool, token) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors as hf_errors

    where = f"{repo_id!r}" + (f" at revision {revision!r}" if revision else "")
    paths = []
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            paths.append(Path(hf_hub_download(
                repo_id, filename, revision=revision, cache_dir=cache_dir,
                local_files_only=local_files_only, token=token,
            )))
        # LocalEntryNotFoundError subclasses EntryNotFoundError: it must be caught first.
        # "from None": huggingface_hub's own message and chained HTTP errors add nothing to this one.
        except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled):
            raise ModelNotFoundError(
                f"cannot get {filename!r} of {where}: not in the cache"
                + (f" {str(cache_dir)!r}" if cache_dir else "")
                + " and the hub cannot be reached (offline, HF_HUB_OFFLINE=1 or local_files_only=True). "
                "Download it once while online, pass the cache_dir that holds it, or pass a local model folder"
            ) from None
        except hf_errors.RevisionNotFoundError as exc:
            raise ModelNotFoundError(f"hub repo {repo_id!r} has no revision {revision!r}") from exc
        except hf_errors.RepositoryNotFoundError as exc:
            raise ModelNotFoundError(
                f"hub repo {repo_id!r} not found (or private: pass token=...); check the id"
            ) from exc
        except hf_errors.EntryNotFoundError as exc:
            raise ModelNotFoundError(f"hub repo {where} has no file {filename!r}; is it a normfuse model?") from exc
        except hf_errors.HFValidationError as exc:
            raise ModelNotFoundError(f"{repo_id!r} is not a valid Hugging Face repo id or revision: {exc}") from None
        except (hf_errors.HfHubHTTPError, OSError) as exc:
            raise ModelNotFoundError(f"cannot download {filename!r} of {where}: {exc}") from exc
    if paths[0].parent != paths[1].parent:
        raise ModelNotFoundError(f"{CONFIG_NAME} and {WEIGHTS_NAME} of {where} come from different snapshots")
    return paths[0].parent


def write_model_card(folder: Path, card: str | None = None) -> None:
    """Write ``README.md`` into ``folder``: ``card`` if given, else a short generated card if none exists."""
    target = folder / CARD_NAME
    if card is not None:
        target.write_text(card)
    elif not target.exists():
        cfg = json.loads((folder / CONFIG_NAME).read_text())
        target.write_text(
            "---\nlibrary_name: normfuse\ntags: [image-fusion, infrared, pytorch]\n---\n"
            f"# NormFuse model ({cfg.get('variant', 'normfuse')}, width {cfg.get('width')})\n\n"
            "Load it with `normfuse.NormFuser.from_pretrained(<this folder or repo id>)`.\n"
            "Describe here the data, the training command and the metrics of this model.\n"
        )


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


def load_state_dict_strict(net: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` into ``net``; raise :class:`WeightsError` naming missing, unexpected or mis-shaped tensors."""
    _check_state(net, state, source)
    net.load_state_dict(state, strict=True)


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
        cfg = NormFuseConfig.from_dict(_check_config_types(json.loads(cfg_path.read_text())))
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


def _check_config_types(data: object) -> dict:
    """Return ``data`` if its values have the JSON types of a config; else raise TypeError naming the field.

    Catches e.g. ``"width": 16.5`` or ``"fusion": "sum"`` before they reach torch.
    """
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object of config fields, got {type(data).__name__}")
    for name in ("in_channels", "width", "pean_hidden"):
        value = data.get(name)
        if name in data and not (value is None and name == "pean_hidden"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(data.get("pean_hidden"), int) and data["pean_hidden"] < 1:
        raise ValueError(f"pean_hidden must be positive or null, got {data['pean_hidden']}")
    for name in ("norm", "padding_mode", "activation", "variant", "fusion_norm_stats"):
        if name in data and not isinstance(data[name], str):
            raise TypeError(f"{name} must be a string, got {data[name]!r}")
    if "bf16_tolerant" in data and not isinstance(data["bf16_tolerant"], bool):
        raise TypeError(f"bf16_tolerant must be true or false, got {data['bf16_tolerant']!r}")
    if "fusion" in data and not isinstance(data["fusion"], dict):
        raise TypeError(f"fusion must be an object with structure, detail and skip rules, got {data['fusion']!r}")
    return data
