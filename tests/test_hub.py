"""``from_pretrained("org/name")`` through the real huggingface_hub code, without any network.

The tests build a hub cache the way huggingface_hub lays it out (see
``huggingface_hub/file_download.py``)::

    <cache_dir>/models--org--name/
        blobs/<sha256 of the file>            the file contents
        refs/main                             the commit hash (no newline)
        snapshots/<commit>/config.json        -> ../../blobs/<sha256> (relative symlink)
        snapshots/<commit>/model.safetensors  -> ../../blobs/<sha256>

and load from it with ``local_files_only=True`` or in offline mode.
huggingface_hub reads ``HF_HUB_OFFLINE`` once, into
``huggingface_hub.constants.HF_HUB_OFFLINE``, when it is imported;
``constants.is_offline_mode()`` reads that attribute at every request, so
the tests set both the variable and the attribute. Every test also turns
socket connections into failures, so a real request cannot pass unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants as hf_constants

from normfuse import ModelNotFoundError, NormFuseConfig, NormFuseNet, NormFuser, WeightsError
from normfuse.weights import BUNDLED_DIR

REPO = "normfuse-test/tiny"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any socket connection (a safety net: the code under test must not even try)."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"test_hub: network access attempted to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    assert not attempts, f"network access attempted: {attempts}"


@pytest.fixture
def offline(monkeypatch):
    """Offline mode as a user sets it: ``HF_HUB_OFFLINE=1`` (and the constant huggingface_hub derived from it)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    assert hf_constants.is_offline_mode()


def add_snapshot(cache_dir, source, repo=REPO, commit=COMMIT, refs=("main",), files=None, symlinks=True):
    """Put the files of the model folder ``source`` into ``cache_dir`` as snapshot ``commit`` of ``repo``."""
    storage = cache_dir / ("models--" + repo.replace("/", "--"))
    snapshot = storage / "snapshots" / commit
    (storage / "blobs").mkdir(parents=True, exist_ok=True)
    (storage / "refs").mkdir(exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name in files or ("config.json", "model.safetensors"):
        data = (source / name).read_bytes()
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        if symlinks:
            (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
        else:  # the layout huggingface_hub falls back to where symlinks are not available
            shutil.copyfile(blob, snapshot / name)
    for ref in refs:
        (storage / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (storage / "refs" / ref).write_text(commit)  # huggingface_hub writes (and reads) the bare hash
    return snapshot


def _folder_of(net: NormFuseNet, path):
    NormFuser(net, device="cpu", precision="fp32").save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    torch.manual_seed(0)
    return _folder_of(NormFuseNet(NormFuseConfig(width=8)), tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (20, 27), dtype=np.uint8), rng.integers(0, 256, (20, 27, 3), dtype=np.uint8)


@pytest.fixture
def cache(tmp_path, tiny_folder):
    cache_dir = tmp_path / "hub"
    add_snapshot(cache_dir, tiny_folder)
    return cache_dir


def _load(name, **kwargs):
    return NormFuser.from_pretrained(name, device="cpu", precision="fp32", **kwargs)


# ---------------------------------------------------------------- the layout is huggingface_hub's
def test_cache_layout_is_the_one_huggingface_hub_reads(cache):
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache
    from huggingface_hub.file_download import repo_folder_name

    assert (cache / repo_folder_name(repo_id=REPO, repo_type="model")).is_dir()
    found = try_to_load_from_cache(REPO, "model.safetensors", cache_dir=cache)
    assert isinstance(found, str) and found.endswith(f"snapshots/{COMMIT}/model.safetensors")
    info = scan_cache_dir(cache)
    assert not info.warnings
    (repo,) = info.repos
    assert repo.repo_id == REPO and repo.repo_type == "model"
    (rev,) = repo.revisions
    assert rev.commit_hash == COMMIT and rev.refs == frozenset({"main"}) and rev.nb_files == 2


# ---------------------------------------------------------------- loading from the cache
def test_local_files_only_loads_the_cached_repo(cache, tiny_folder, pair):
    hub = _load(REPO, cache_dir=cache, local_files_only=True)
    np.testing.assert_array_equal(hub.fuse(*pair), _load(tiny_folder).fuse(*pair))


def test_offline_mode_loads_the_cached_repo(cache, tiny_folder, pair, offline):
    hub = _load(REPO, cache_dir=cache)  # no local_files_only: HF_HUB_OFFLINE alone keeps it local
    np.testing.assert_array_equal(hub.fuse(*pair), _load(tiny_folder).fuse(*pair))


def test_default_cache_location_is_used(cache, tiny_folder, pair, offline, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    np.testing.assert_array_equal(_load(REPO).fuse(*pair), _load(tiny_folder).fuse(*pair))


def test_copied_files_instead_of_symlinks(tmp_path, tiny_folder, pair):
    add_snapshot(tmp_path / "hub", tiny_folder, symlinks=False)
    hub = _load(REPO, cache_dir=tmp_path / "hub", local_files_only=True)
    np.testing.assert_array_equal(hub.fuse(*pair), _load(tiny_folder).fuse(*pair))


def test_bundled_weights_through_the_hub_cache(tmp_path, pair):
    add_snapshot(tmp_path / "hub", BUNDLED_DIR)
    ir, vis = (a[:12, :16] for a in pair)
    hub = _load(REPO, cache_dir=tmp_path / "hub", local_files_only=True)
    np.testing.assert_array_equal(hub.fuse(ir, vis), _load(None).fuse(ir, vis))


def test_revisions_select_their_snapshot(tmp_path, tiny_folder, pair, offline):
    """Two commits: ``main`` points to the newer one; a tag and a commit hash select the older one."""
    torch.manual_seed(1)
    newer = _folder_of(NormFuseNet(NormFuseConfig(width=8)), tmp_path / "newer")
    cache_dir = tmp_path / "hub"
    add_snapshot(cache_dir, tiny_folder, commit=COMMIT, refs=("v1.0",))
    add_snapshot(cache_dir, newer, commit=OTHER_COMMIT, refs=("main",))
    old_out, new_out = _load(tiny_folder).fuse(*pair), _load(newer).fuse(*pair)
    assert not np.array_equal(old_out, new_out)
    np.testing.assert_array_equal(_load(REPO, cache_dir=cache_dir).fuse(*pair), new_out)
    np.testing.assert_array_equal(_load(REPO, cache_dir=cache_dir, revision="main").fuse(*pair), new_out)
    np.testing.assert_array_equal(_load(REPO, cache_dir=cache_dir, revision="v1.0").fuse(*pair), old_out)
    np.testing.assert_array_equal(_load(REPO, cache_dir=cache_dir, revision=COMMIT).fuse(*pair), old_out)


# ---------------------------------------------------------------- failures: one clear ModelNotFoundError
WHAT_TO_DO = r"Download it once while online, pass the cache_dir that holds it, or pass a local model folder"


def _assert_one_clear_error(excinfo):
    err = excinfo.value
    msg = str(err)
    assert "local_files_only" in msg and "HF_HUB_OFFLINE" in msg
    assert "http" not in msg.lower() and "\n" not in msg
    assert err.__cause__ is None and err.__suppress_context__  # no chained stack of hub/HTTP errors


@pytest.mark.parametrize("mode", ["local_files_only", "offline"])
def test_repo_not_in_the_cache(tmp_path, cache, mode, request):
    kwargs = {"local_files_only": True} if mode == "local_files_only" else {}
    if mode == "offline":
        request.getfixturevalue("offline")
    for cache_dir in (cache, tmp_path / "empty-cache"):
        msg = rf"cannot get 'config\.json' of 'other-org/model': not in the cache '.*'.*{WHAT_TO_DO}"
        with pytest.raises(ModelNotFoundError, match=msg) as excinfo:
            _load("other-org/model", cache_dir=cache_dir, **kwargs)
        _assert_one_clear_error(excinfo)


@pytest.mark.parametrize("mode", ["local_files_only", "offline"])
def test_file_missing_from_the_snapshot(tmp_path, tiny_folder, mode, request):
    kwargs = {"local_files_only": True} if mode == "local_files_only" else {}
    if mode == "offline":
        request.getfixturevalue("offline")
    add_snapshot(tmp_path / "hub", tiny_folder, files=["config.json"])
    msg = rf"cannot get 'model\.safetensors' of '{REPO}': not in the cache.*{WHAT_TO_DO}"
    with pytest.raises(ModelNotFoundError, match=msg) as excinfo:
        _load(REPO, cache_dir=tmp_path / "hub", **kwargs)
    _assert_one_clear_error(excinfo)


@pytest.mark.parametrize("revision", ["v2.0", "dev", OTHER_COMMIT])
@pytest.mark.parametrize("mode", ["local_files_only", "offline"])
def test_revision_not_in_the_cache(cache, revision, mode, request):
    kwargs = {"local_files_only": True} if mode == "local_files_only" else {}
    if mode == "offline":
        request.getfixturevalue("offline")
    msg = rf"of '{REPO}' at revision '{revision}': not in the cache.*{WHAT_TO_DO}"
    with pytest.raises(ModelNotFoundError, match=msg) as excinfo:
        _load(REPO, cache_dir=cache, revision=revision, **kwargs)
    _assert_one_clear_error(excinfo)


def test_snapshot_with_only_a_pickle_is_not_unpickled(tmp_path, tiny_folder, offline):
    class Trap:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "sprung"),))

    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(tiny_folder / "config.json", source / "config.json")
    torch.save({"trap": Trap()}, source / "pytorch_model.bin")
    add_snapshot(tmp_path / "hub", source, files=["config.json", "pytorch_model.bin"])
    with pytest.raises(ModelNotFoundError, match=r"'model\.safetensors'"):
        _load(REPO, cache_dir=tmp_path / "hub")
    assert not (tmp_path / "sprung").exists()


def test_corrupt_cached_weights_are_a_weights_error(tmp_path, tiny_folder, offline):
    snapshot = add_snapshot(tmp_path / "hub", tiny_folder)
    blob = (snapshot / "model.safetensors").resolve()
    blob.write_bytes(blob.read_bytes()[:100])
    with pytest.raises(WeightsError, match=r"not a readable safetensors file \(corrupt or truncated\?\)"):
        _load(REPO, cache_dir=tmp_path / "hub")


@pytest.mark.parametrize("name", ["org/name/extra", "/org/name", "~org/name", "org\\name", "justaname", "./org/name"])
def test_names_that_are_neither_folder_nor_repo_id(name, offline):
    with pytest.raises(ModelNotFoundError, match=r"neither an existing folder nor a Hugging Face repo id"):
        _load(name)


@pytest.mark.parametrize("name", ["org/bad name", "org/a--b", "org/" + "x" * 120, "org/-name"])
def test_invalid_repo_ids(tmp_path, name, offline):
    with pytest.raises(ModelNotFoundError, match=r"is not a valid Hugging Face repo id"):
        _load(name, cache_dir=tmp_path / "hub")


# ---------------------------------------------------------------- model cards and push_to_hub (mocked HfApi)
CARD = "---\nlibrary_name: normfuse\nlicense: mit\n---\n# A real card\n\nTrained on six pairs; metrics below.\n"


class FakeHfApi:
    """Records what push_to_hub asks of ``huggingface_hub.HfApi``; ``upload_folder`` keeps the files' bytes."""

    instances: list[FakeHfApi] = []
    hub_has_card = False

    def __init__(self, **kwargs):
        self.kwargs, self.uploaded, self.repos = kwargs, {}, []
        FakeHfApi.instances.append(self)

    def create_repo(self, repo_id, private=False, exist_ok=False):
        self.repos.append(repo_id)

    def file_exists(self, repo_id, filename, **kwargs):
        return self.hub_has_card and filename == "README.md"

    def upload_folder(self, *, repo_id, folder_path, commit_message=None, **kwargs):
        self.uploaded = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        return f"https://huggingface.co/{repo_id}/commit/{COMMIT}"


@pytest.fixture
def fake_hub(monkeypatch):
    import huggingface_hub

    FakeHfApi.instances = []
    monkeypatch.setattr(FakeHfApi, "hub_has_card", False)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    return FakeHfApi


def test_push_to_hub_of_a_folder_with_a_model_card_uploads_that_card(tmp_path, tiny_folder, fake_hub):
    from safetensors.torch import load

    from normfuse import __version__

    folder = tmp_path / "m"
    shutil.copytree(tiny_folder, folder)
    (folder / "README.md").write_text(CARD, encoding="utf-8")
    fuser = _load(folder)
    assert fuser.model_card == CARD
    for has_card in (False, True):  # whatever the hub holds, the model's own card is uploaded
        fake_hub.hub_has_card = has_card
        url = fuser.push_to_hub("org/tiny")
        api = fake_hub.instances[-1]
        assert url.endswith(COMMIT) and api.repos == ["org/tiny"]
        assert api.kwargs["library_name"] == "normfuse" and api.kwargs["library_version"] == __version__
        assert set(api.uploaded) == {"config.json", "model.safetensors", "README.md"}
        assert api.uploaded["README.md"].decode("utf-8") == CARD
        uploaded, saved = load(api.uploaded["model.safetensors"]), load((folder / "model.safetensors").read_bytes())
        assert saved.keys() == uploaded.keys() and all(torch.equal(saved[k], uploaded[k]) for k in saved)


def test_push_to_hub_without_a_card_never_replaces_the_one_on_the_hub(fake_hub):
    from huggingface_hub import ModelCard

    fuser = NormFuser(NormFuseNet(NormFuseConfig(width=4)), device="cpu", precision="fp32")
    assert fuser.model_card is None
    fake_hub.hub_has_card = True
    fuser.push_to_hub("org/new")
    assert set(fake_hub.instances[-1].uploaded) == {"config.json", "model.safetensors"}
    fake_hub.hub_has_card = False  # a repo without a card gets a generated one, with metadata
    fuser.push_to_hub("org/new")
    card = ModelCard(fake_hub.instances[-1].uploaded["README.md"].decode("utf-8"))
    assert card.data.library_name == "normfuse" and "image-fusion" in card.data.tags
    fuser.push_to_hub("org/new", model_card=CARD)
    assert fake_hub.instances[-1].uploaded["README.md"].decode("utf-8") == CARD


def test_save_pretrained_writes_the_card_the_model_came_with(tmp_path):
    _load(None).save_pretrained(tmp_path / "copy")
    assert (tmp_path / "copy" / "README.md").read_bytes() == (BUNDLED_DIR / "README.md").read_bytes()


def test_one_snapshot_download_of_the_model_files_with_the_library_named(tmp_path, tiny_folder, monkeypatch):
    """The hub files come from one ``snapshot_download`` (so from one snapshot), the card included."""
    import huggingface_hub

    from normfuse import __version__

    source = tmp_path / "src"
    shutil.copytree(tiny_folder, source)
    (source / "README.md").write_text(CARD, encoding="utf-8")
    add_snapshot(tmp_path / "hub", source, files=["config.json", "model.safetensors", "README.md"])
    calls = []
    real = huggingface_hub.snapshot_download

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", recording)
    hub = _load(REPO, cache_dir=tmp_path / "hub", local_files_only=True)
    assert hub.model_card == CARD
    (call,) = calls
    assert sorted(call["allow_patterns"]) == ["README.md", "config.json", "model.safetensors"]
    assert call["library_name"] == "normfuse" and call["library_version"] == __version__
