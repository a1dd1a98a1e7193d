"""Model files are data, never code: only ``config.json`` + ``model.safetensors`` (and the card, as text) are read.

Pickle checkpoints are refused without being unpickled; corrupt, truncated or
mismatching files raise :class:`normfuse.WeightsError` naming the problem;
``save_pretrained`` / ``from_pretrained`` round-trip exactly.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from normfuse import ModelNotFoundError, NormFuseConfig, NormFuseNet, NormFuser, WeightsError
from normfuse.weights import BUNDLED_DIR

pytestmark = pytest.mark.usefixtures("one_thread")


class _Trap:
    """Unpickling this object creates the folder ``marker`` (a harmless stand-in for running any code)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _small_net(seed: int = 0) -> NormFuseNet:
    """A width-8 network with random weights *and* random normalisation statistics (so nothing is trivial)."""
    torch.manual_seed(seed)
    net = NormFuseNet(NormFuseConfig(width=8))
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("running_mean"):
                t.uniform_(-0.2, 0.2)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
    return net.eval()


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "model"
    NormFuser(_small_net(), device="cpu", precision="fp32").save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(4)
    return rng.integers(0, 256, (17, 23), dtype=np.uint8), rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)


def _load(path):
    return NormFuser.from_pretrained(path, device="cpu", precision="fp32")


def _pickle_checkpoint(path, marker):
    torch.save({"state_dict": _small_net().state_dict(), "trap": _Trap(str(marker))}, path)


# ---------------------------------------------------------------- round trip
def test_save_and_reload_give_identical_outputs(folder, images, tmp_path):
    original = NormFuser(_small_net(), device="cpu", precision="fp32")
    loaded = _load(folder)
    assert loaded.config == original.config
    for k, v in original.net.state_dict().items():
        assert torch.equal(v, loaded.net.state_dict()[k]), k
    np.testing.assert_array_equal(loaded.fuse(*images), original.fuse(*images))
    # and again: a re-saved model is the same file content
    loaded.save_pretrained(tmp_path / "again")
    a, b = load_file(folder / "model.safetensors"), load_file(tmp_path / "again" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    config = lambda d: json.loads((d / "config.json").read_text())  # noqa: E731
    assert config(tmp_path / "again") == config(folder)


@pytest.mark.parametrize(
    "options",
    [{"variant": "rescat"}, {"norm": "instance"}, {"norm": "none", "activation": "prelu"},
     {"padding_mode": "zeros", "pean_hidden": 3}, {"fusion": {"structure": "max", "detail": "ir", "skip": "mean"},
                                                   "fusion_norm_stats": "input"}],
)
def test_every_config_option_round_trips(tmp_path, images, options):
    """Loading builds the network on the meta device first: every architecture option must survive that."""
    torch.manual_seed(2)
    cfg = NormFuseConfig.from_dict({"width": 4, **options})
    original = NormFuser(NormFuseNet(cfg), device="cpu", precision="fp32")
    original.save_pretrained(tmp_path / "m")
    loaded = _load(tmp_path / "m")
    assert loaded.config == cfg
    np.testing.assert_array_equal(loaded.fuse(*images), original.fuse(*images))


def test_bundled_weights_round_trip(tmp_path, images):
    bundled = _load(None)
    bundled.save_pretrained(tmp_path / "copy")
    ir, vis = (a[:12, :16] for a in images)
    np.testing.assert_array_equal(_load(tmp_path / "copy").fuse(ir, vis), bundled.fuse(ir, vis))


def test_loading_never_calls_pickle(folder, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a model file was unpickled")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    _load(folder)
    _load(None)
    _load(BUNDLED_DIR)


# ---------------------------------------------------------------- pickle checkpoints
def test_the_trap_works_when_unpickled(tmp_path):
    """Sanity check of the test itself: loading the checkpoint with pickle does create the marker."""
    marker = tmp_path / "sprung"
    _pickle_checkpoint(tmp_path / "ckpt.pt", marker)
    torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.pth", "last.ckpt"])
def test_pickle_checkpoint_folder_is_refused_unopened(folder, tmp_path, name):
    marker = tmp_path / "sprung"
    (folder / "model.safetensors").unlink()
    _pickle_checkpoint(folder / name, marker)
    with pytest.raises(WeightsError, match=rf"has no model\.safetensors but '{re.escape(name)}'.*never unpickles"):
        _load(folder)
    assert not marker.exists()


def test_pickle_disguised_as_safetensors_is_refused_unopened(folder, tmp_path):
    marker = tmp_path / "sprung"
    _pickle_checkpoint(folder / "model.safetensors", marker)
    with pytest.raises(WeightsError, match=r"model\.safetensors' is not a readable safetensors file"):
        _load(folder)
    assert not marker.exists()


def test_pickle_next_to_safetensors_is_ignored(folder, tmp_path, images):
    marker = tmp_path / "sprung"
    _pickle_checkpoint(folder / "pytorch_model.bin", marker)
    assert _load(folder).fuse(*images).shape == images[1].shape
    assert not marker.exists()


def test_pickle_file_path_is_refused_unopened(tmp_path):
    marker = tmp_path / "sprung"
    _pickle_checkpoint(tmp_path / "model.pt", marker)
    with pytest.raises(ModelNotFoundError, match=r"model\.pt' is a file; from_pretrained expects a model folder"):
        _load(tmp_path / "model.pt")
    assert not marker.exists()


# ---------------------------------------------------------------- damaged weights
@pytest.mark.parametrize(
    "damage",
    [lambda raw: os.urandom(4096), lambda raw: raw[: len(raw) // 2], lambda raw: raw[:len(raw) - 1],
     lambda raw: raw[:7], lambda raw: b"", lambda raw: b"\xff" * 8 + raw[8:]],
    ids=["random-bytes", "truncated-half", "truncated-1-byte", "truncated-header", "empty", "bad-header-length"],
)
def test_corrupt_or_truncated_safetensors(folder, damage):
    w = folder / "model.safetensors"
    w.write_bytes(damage(w.read_bytes()))
    msg = rf"{re.escape(repr(str(w)))} is not a readable safetensors file \(corrupt or truncated\?\)"
    with pytest.raises(WeightsError, match=msg):
        _load(folder)


def _rewrite(folder, change):
    state = load_file(folder / "model.safetensors")
    change(state)
    save_file(state, str(folder / "model.safetensors"))


def test_missing_tensor(folder):
    _rewrite(folder, lambda s: s.pop("decoder.conv_out.bias"))
    msg = r"do not match the configuration: missing tensors \['decoder\.conv_out\.bias'\]"
    with pytest.raises(WeightsError, match=msg):
        _load(folder)


def test_extra_tensor(folder):
    _rewrite(folder, lambda s: s.update({"decoder.extra.weight": torch.zeros(3)}))
    with pytest.raises(WeightsError, match=r"unexpected tensors \['decoder\.extra\.weight'\]"):
        _load(folder)


def test_wrong_shape(folder):
    _rewrite(folder, lambda s: s.update({"decoder.conv_out.bias": torch.zeros(2)}))
    with pytest.raises(WeightsError, match=r"wrong shapes \['decoder\.conv_out\.bias: file \(2,\) vs model \(1,\)'\]"):
        _load(folder)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_missing_file(folder, name):
    (folder / name).unlink()
    with pytest.raises(WeightsError, match=rf"model folder {re.escape(repr(str(folder)))} has no {re.escape(name)}"):
        _load(folder)


def test_missing_folder_is_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"neither an existing folder nor a Hugging Face repo id"):
        _load(str(tmp_path / "no" / "such" / "model"))


# ---------------------------------------------------------------- config.json
def _set_config(folder, **changes):
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg))


def test_config_width_does_not_match_the_weights(folder):
    _set_config(folder, width=16)
    msg = r"do not match the configuration: wrong shapes \[.*file \(8,.* vs model \(16,"
    with pytest.raises(WeightsError, match=msg):
        _load(folder)


def test_config_asking_for_a_huge_network_fails_fast(folder):
    """The config is checked against the weights before any memory is allocated for the network."""
    _set_config(folder, width=10**6)  # 36 TB of float32 weights if allocated
    t0 = time.perf_counter()
    with pytest.raises(WeightsError, match=r"wrong shapes"):
        _load(folder)
    assert time.perf_counter() - t0 < 20


@pytest.mark.parametrize("text", ["{not json", "", "\x00\x01binary", '{"width": 8,}'])
def test_config_that_is_not_json(folder, text):
    (folder / "config.json").write_text(text)
    with pytest.raises(WeightsError, match=r"config\.json' is not a valid NormFuse config"):
        _load(folder)


def test_config_with_unknown_fields(folder):
    _set_config(folder, colour_space="lab", depth=4)
    msg = r"not a valid NormFuse config: unknown NormFuseConfig fields: \['colour_space', 'depth'\]"
    with pytest.raises(WeightsError, match=msg):
        _load(folder)


@pytest.mark.parametrize(
    "changes, msg",
    [
        ({"width": 8.5}, r"width must be an integer, got 8\.5"),
        ({"width": "8"}, r"width must be an integer, got '8'"),
        ({"width": True}, r"width must be an integer, got True"),
        ({"width": -8}, r"width and in_channels must be positive"),
        ({"pean_hidden": 0}, r"pean_hidden must be positive or null"),
        ({"fusion": "sum"}, r"fusion must be an object with structure, detail and skip rules"),
        ({"fusion": {"structure": "product"}}, r"FusionRule\.structure must be"),
        ({"variant": "unet"}, r"variant must be 'normfuse' or 'rescat'"),
        ({"norm": ["batch"]}, r"norm must be a string"),
        ({"fusion_norm_stats": "batch"}, r"fusion_norm_stats must be 'running' or 'input'"),
    ],
)
def test_config_with_invalid_values(folder, changes, msg):
    _set_config(folder, **changes)
    with pytest.raises(WeightsError, match=r"config\.json' is not a valid NormFuse config: " + msg):
        _load(folder)


@pytest.mark.parametrize(
    "changes, msg",
    [({"padding_mode": "mirror"}, r"padding_mode"), ({"activation": "tanhh"}, r"unknown activation 'tanhh'"),
     ({"norm": "group"}, r"norm must be 'batch', 'instance' or 'none'")],
)
def test_config_naming_unknown_layers(folder, changes, msg):
    _set_config(folder, **changes)
    with pytest.raises(WeightsError, match=r"config\.json' describes a network that cannot be built: .*" + msg):
        _load(folder)


@pytest.mark.parametrize("value", [[1, 2], 5, None, "normfuse"])
def test_config_that_is_not_an_object(folder, value):
    (folder / "config.json").write_text(json.dumps(value))
    with pytest.raises(WeightsError, match=r"expected a JSON object of config fields"):
        _load(folder)


def test_weights_error_is_a_value_error():
    assert issubclass(WeightsError, ValueError) and issubclass(ModelNotFoundError, OSError)
