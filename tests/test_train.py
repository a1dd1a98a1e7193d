"""Training: the letter's loss terms, optimisation on real pairs, resume, CLI, DDP."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import torch

from normfuse import NormFuser
from normfuse.network import Features
from normfuse.train.data import CropPolicy, PairedImageFolder
from normfuse.train.losses import LossWeights, decomposition_loss, gradient_loss, normfuse_loss, reconstruction_error
from normfuse.train.loop import TrainConfig, train


def _feats(seed: int) -> Features:
    g = torch.Generator().manual_seed(seed)
    t = lambda: torch.rand(2, 4, 16, 16, generator=g)  # noqa: E731
    return Features(t(), t(), (t(), t()))


def test_loss_terms_on_known_inputs():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32)
    assert reconstruction_error(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert gradient_loss(x, x).item() == 0.0
    y = torch.rand(2, 1, 32, 32)
    mse = torch.mean((x - y) ** 2).item()
    assert reconstruction_error(x, y, lam=0.0).item() == pytest.approx(mse, rel=1e-5)
    assert reconstruction_error(x, y, lam=5.0).item() > mse
    a, b = _feats(1), _feats(2)
    # symmetric in the two sources, and exactly tanh(mse_S) - a1 tanh(mse_D)
    assert decomposition_loss(a, b).item() == pytest.approx(decomposition_loss(b, a).item(), abs=1e-7)
    want = torch.tanh(torch.mean((a.structure - b.structure) ** 2)) - 0.5 * torch.tanh(torch.mean((a.detail - b.detail) ** 2))
    assert decomposition_loss(a, b, 0.5).item() == pytest.approx(want.item(), rel=1e-6)
    # identical features: L_de = 0; perfect reconstructions: L = L_de
    total, parts = normfuse_loss(x, y, a, a, x, y)
    assert parts["de"] == pytest.approx(0.0, abs=1e-7) and total.item() == pytest.approx(0.0, abs=1e-5)
    w = LossWeights(a2=1.0, a3=0.0, a4=0.0)
    _, parts = normfuse_loss(x, y, a, b, y, x, w)
    assert parts["total"] == pytest.approx(parts["de"] + parts["rec_ir"], rel=1e-5)


def test_dataset_centre_crop_and_errors(small_data, tmp_path):
    ds = PairedImageFolder(small_data, crop=CropPolicy(size=64))
    assert len(ds) == 6
    ir, vis = ds[0]
    assert ir.shape == vis.shape == (1, 64, 64) and ir.dtype == torch.float32
    assert torch.equal(ds[0][0], ds[0][0])  # centre crop is deterministic
    (tmp_path / "ir").mkdir()
    (tmp_path / "vis").mkdir()
    (tmp_path / "ir" / "a.png").write_bytes(b"not an image")
    (tmp_path / "vis" / "a.png").write_bytes(b"not an image")
    with pytest.raises(OSError, match="a.png"):
        PairedImageFolder(tmp_path)
    (tmp_path / "ir" / "b.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="no partner"):
        PairedImageFolder(tmp_path)


def _cfg(small_data, out, **kw):
    base = dict(data=str(small_data), split=None, out=str(out), epochs=3, batch_size=6, crop_size=64,
                progress=False, model={"width": 8}, lr_step_epochs=2)
    base.update(kw)
    return TrainConfig(**base)


def test_training_reduces_loss_resumes_and_writes_a_loadable_folder(small_data, tmp_path):
    cfg = _cfg(small_data, tmp_path / "run", epochs=6, crops_per_image=2, random_crop=True, flip=True, bf16=True,
               channels_last=True, lr=3e-3)
    final = train(cfg)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert len(rows) == 6 and float(rows[-1]["total"]) < float(rows[0]["total"])
    assert float(rows[0]["lr"]) == 3e-3 and float(rows[-1]["lr"]) == pytest.approx(3e-5)  # /10 every 2 epochs
    fuser = NormFuser.from_pretrained(final, device="cpu", precision="fp32")
    assert fuser.fuse(torch.rand(1, 1, 40, 40), torch.rand(1, 1, 40, 40)).shape == (1, 1, 40, 40)
    # refusing to clobber a run; resuming continues from the saved epoch
    with pytest.raises(FileExistsError, match="resume"):
        train(cfg)
    more = _cfg(small_data, tmp_path / "run", epochs=8, crops_per_image=2, random_crop=True, flip=True, bf16=True,
                channels_last=True, lr=3e-3)
    train(more, resume=True)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 8 and ck["step"] == 8 * 2


def test_resume_equals_uninterrupted(small_data, tmp_path):
    train(_cfg(small_data, tmp_path / "a", epochs=2))
    train(_cfg(small_data, tmp_path / "b", epochs=1))
    train(_cfg(small_data, tmp_path / "b", epochs=2), resume=True)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


def test_cli_train_max_steps(small_data, tmp_path):
    from normfuse.cli import main

    rc = main(["train", "--data", str(small_data), "--out", str(tmp_path / "cli"), "--max-steps", "2",
               "--batch-size", "4", "--width", "8", "--no-progress"])
    assert rc == 0
    assert NormFuser.from_pretrained(tmp_path / "cli" / "final", device="cpu").config.width == 8
    assert (tmp_path / "cli" / "train_config.json").is_file()


def test_torchrun_two_cpu_processes_end_with_identical_weights(small_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "normfuse", "train", "--data", str(small_data), "--out", str(out), "--max-steps", "2",
           "--batch-size", "3", "--width", "8", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    # every rank writes its own final weights next to rank 0's for this check
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for k in ranks[0]:
        assert torch.equal(ranks[0][k], ranks[1][k]), k
    assert NormFuser.from_pretrained(out / "final", device="cpu").fuse(torch.rand(8, 8), torch.rand(8, 8)).shape == (8, 8)
