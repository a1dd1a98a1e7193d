"""Training: the letter's loss terms, optimisation on real pairs, resume, CLI, DDP."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import torch

from normfuse import NormFuser
from normfuse.devices import cpu_supports_bf16
from normfuse.network import Features
from normfuse.train.config import FusionLossWeights
from normfuse.train.data import CropPolicy, PairedImageFolder
from normfuse.train.loop import TrainConfig, train
from normfuse.train.losses import (
    LossWeights,
    decomposition_loss,
    fusion_loss,
    gradient_loss,
    intensity_target,
    normfuse_loss,
    reconstruction_error,
    warm_target_shortfall,
)


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


def test_intensity_target_detail_gain_floor_and_contrast_term_on_a_real_pair(tno_pair):
    import kornia

    ir, vis = (torch.from_numpy(x).float()[None, None] / 255 for x in tno_pair)
    plain = intensity_target(ir, vis, base_sigma=10.0, ir_priority=0.5)
    gained = intensity_target(ir, vis, base_sigma=10.0, ir_priority=0.5, detail_gain=2.0)
    floored = intensity_target(ir, vis, base_sigma=10.0, ir_priority=0.5, floor=0.5)
    blur = lambda x: kornia.filters.gaussian_blur2d(x, (61, 61), (10.0, 10.0), border_type="reflect")  # noqa: E731
    brighter = torch.maximum(blur(ir), blur(vis))
    # the detail gain raises local contrast (energy above the base's band), the base stays
    high = lambda t: (t - blur(t)).abs().mean().item()  # noqa: E731
    assert high(gained) > 1.5 * high(plain)
    assert (blur(gained) - blur(plain)).abs().mean().item() < 0.02
    # the floor lifts what falls below half the brighter base, and only that
    assert bool((floored >= (0.5 * brighter).clamp(max=1.0) - 1e-6).all())
    below = plain < 0.5 * brighter
    assert bool(below.any()) and torch.equal(floored[~below], plain[~below])
    # the contrast term is zero for the target itself and grows as the image flattens
    w = FusionLossWeights(intensity=0.0, gradient=0.0, ssim=0.0, contrast=1.0)
    t = intensity_target(ir, vis, w.base_sigma, w.ir_priority, w.detail_gain, w.floor)
    assert fusion_loss(ir, vis, t, w)[1]["fcontrast"] == pytest.approx(0.0, abs=1e-6)
    flat = lambda k: t.mean() + k * (t - t.mean())  # noqa: E731
    assert 0 < fusion_loss(ir, vis, flat(0.8), w)[1]["fcontrast"] < fusion_loss(ir, vis, flat(0.5), w)[1]["fcontrast"]
    # the dark term: nothing for the (floored) target, the shortfall below 0.3 x the brighter base otherwise
    w = FusionLossWeights(intensity=0.0, gradient=0.0, ssim=0.0, contrast=0.0, dark=1.0)
    assert fusion_loss(ir, vis, t, w)[1]["fdark"] == 0.0
    dark = fusion_loss(ir, vis, 0.1 * t, w)[1]["fdark"]
    assert dark == pytest.approx(torch.relu(0.3 * brighter - 0.1 * t).mean().item(), rel=1e-4) and dark > 0.01


def test_detail_balance_keeps_the_warm_targets_of_a_flattened_thermal_image(tno_pair):
    """``detail_balance`` 1 compares each source's detail with its own contrast: flattening the IR image
    (contrast x 0.2, a mid-grey thermal background) leaves the target's IR target share where it was
    (measured on TNO 17: 0.989 -> 0.983), while raw magnitudes (0) lose the targets (0.976 -> 0.599)."""
    from normfuse.metrics.robustness import ir_target_share

    ir, vis = (x.astype("float64") for x in tno_pair)
    flat = ir.mean() + 0.2 * (ir - ir.mean())

    def share(i, balance):
        t = intensity_target(torch.from_numpy(i / 255).float()[None, None], torch.from_numpy(vis / 255).float()[None, None],
                             base_sigma=10.0, ir_priority=0.5, detail_gain=2.0, floor=0.3, detail_balance=balance)
        return ir_target_share(t[0, 0].numpy() * 255, i, vis)

    assert share(flat, 1.0) > 0.9 and abs(share(flat, 1.0) - share(ir, 1.0)) < 0.05
    assert share(flat, 0.0) < 0.7 < share(ir, 0.0)


def test_faithful_target_keeps_a_bright_sky_and_lifts_warm_targets_by_their_salience():
    """A saturated sky over a cold thermal background, and a warm person on a dim visible road: the faithful
    target keeps the sky at the visible value (the old half-way pull gives ~129) and makes the person stand
    out over the road by about as much as in the IR image, brighter than without the salience term."""
    ir = torch.full((1, 1, 64, 64), 3 / 255)
    vis = torch.full((1, 1, 64, 64), 1.0)
    vis[..., 32:, :] = 0.3  # the road
    ir[..., 40:56, 24:32] = 0.4  # a warm person on it
    old = intensity_target(ir, vis, base_sigma=10.0, ir_priority=0.5)
    off = intensity_target(ir, vis, base_sigma=10.0)
    new = intensity_target(ir, vis, base_sigma=10.0, ir_salience=1.0)
    assert old[0, 0, 5, 40].item() * 255 < 135 and new[0, 0, 5, 40].item() == pytest.approx(1.0, abs=1e-6)
    contrast = lambda t: (t[0, 0, 44:52, 26:30].mean() - t[0, 0, 44:52, 40:60].mean()).item()  # noqa: E731
    assert contrast(new) > contrast(off) + 0.1 and contrast(new) > 0.35
    # the highlight term: nothing when the fused image keeps the bright visible pixels, the loss otherwise
    w = FusionLossWeights(intensity=0.0, gradient=0.0, ssim=0.0, contrast=0.0, dark=0.0, highlight=1.0)
    assert fusion_loss(ir, vis, vis, w)[1]["fhighlight"] == 0.0
    grey = fusion_loss(ir, vis, vis * 0.5, w)[1]["fhighlight"]
    assert grey == pytest.approx(0.5 * 0.5, rel=1e-4)  # half of the image is sky, half of its level is lost


def test_blended_detail_adds_no_edges_of_its_own(tno_pair):
    """Choosing the stronger detail pixel by pixel switches between the sources' details and makes edges where the
    choice flips: the target of the sample pair has 1.44 x the high-pass energy of the sharper source. Blending
    by local detail energy (``detail_power`` 4) brings it to 1.06; a high power comes back towards the switch."""
    from normfuse.metrics.fidelity import highpass_amplification

    ir, vis = (torch.from_numpy(x).float()[None, None] / 255 for x in tno_pair)

    def hpamp(power):
        t = intensity_target(ir, vis, base_sigma=10.0, ir_salience=1.0, detail_power=power)
        return highpass_amplification(t[0, 0].numpy() * 255, *tno_pair)

    switch, blend, steep = hpamp(0.0), hpamp(4.0), hpamp(64.0)
    assert switch > 1.3 and 0.9 < blend < 1.15, (switch, blend)
    assert blend < steep < switch


def test_range_window_takes_the_rims_out_of_the_target(tno_pair):
    """The salience term lifts warm areas by a blurred bump, which overshoots both sources next to warm edges
    (HALO of the sample pair's target above 1 grey level); clipping to the sources' 7 x 7 range removes that
    and keeps the warm targets (IR target share within 0.05)."""
    from normfuse.metrics.fidelity import halo
    from normfuse.metrics.robustness import ir_target_share

    ir, vis = (torch.from_numpy(x).float()[None, None] / 255 for x in tno_pair)
    a, b = (x.astype("float64") for x in tno_pair)
    measures = {}
    for window in (0, 7):
        t = intensity_target(ir, vis, base_sigma=10.0, ir_salience=1.0, detail_power=4.0, range_window=window)
        img = t[0, 0].numpy() * 255
        measures[window] = (halo(img, *tno_pair), ir_target_share(img, a, b))
    assert measures[0][0] > 1.0 and measures[7][0] < 0.05, measures
    assert abs(measures[7][1] - measures[0][1]) < 0.05, measures


def test_warm_target_shortfall_is_the_training_form_of_the_ir_share(tno_pair):
    """Zero for every image whose IR target share is at least the average's (0.5), positive below."""
    from normfuse.metrics.robustness import ir_target_share

    ir, vis = (torch.from_numpy(x).float()[None, None] / 255 for x in tno_pair)
    a, b = (x.astype("float64") for x in tno_pair)
    for name, img in {"average": (ir + vis) / 2, "ir": ir, "max": torch.maximum(ir, vis), "vis": vis,
                      "dim": 0.5 * (ir + vis) / 2 + 0.25}.items():
        short = warm_target_shortfall(ir, vis, img).item()
        share = ir_target_share(img[0, 0].numpy() * 255, a, b)
        assert (short > 1e-3) == (share < 0.5 - 1e-3), (name, short, share)
    w = FusionLossWeights(intensity=0.0, gradient=0.0, ssim=0.0, contrast=0.0, dark=0.0, target_contrast=1.0)
    assert fusion_loss(ir, vis, vis, w)[1]["ftarget"] == pytest.approx(warm_target_shortfall(ir, vis, vis).item())


def test_distill_floor_skips_where_the_teacher_is_crushed():
    from normfuse.network import NormFuseConfig, NormFuseNet
    from normfuse.train.step import StepWeights, TrainStep

    torch.manual_seed(0)
    net = NormFuseNet(NormFuseConfig(width=4))
    ir, vis = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32) * 0.5 + 0.5
    crushed = torch.zeros(2, 1, 32, 32)  # a teacher that crushes everything to black
    everywhere = TrainStep(net, StepWeights(reconstruction=0.0, distill=1.0))(ir, vis, crushed)[1]["distill"]
    skipped = TrainStep(net, StepWeights(reconstruction=0.0, distill=1.0, distill_floor=0.5))(ir, vis, crushed)[1]
    assert everywhere > 0.05 and skipped["distill"] == 0.0


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


def test_dataset_pairs_files_by_stem_as_fuse_does(data_dir, tmp_path):
    """Training, ``normfuse fuse`` and the evaluation pair a folder's files by one rule: the stem."""
    import shutil

    from normfuse.evaluation import dataset_pairs
    from normfuse.pairing import match_pairs

    tno = data_dir / "tno"
    for sub in ("ir", "vis"):
        (tmp_path / sub).mkdir()
    shutil.copy(tno / "ir" / "01.bmp", tmp_path / "ir" / "01.bmp")
    shutil.copy(tno / "vis" / "01.bmp", tmp_path / "vis" / "01.png")  # another suffix, same stem
    (tmp_path / "ir" / ".01.bmp.part").write_bytes(b"half written")  # hidden: ignored
    (tmp_path / "vis" / "notes.txt").write_text("not an image")  # not an image suffix: ignored
    ds = PairedImageFolder(tmp_path, crop=CropPolicy(size=64))
    assert ds.names == ["01"] and [p.vis.name for p in ds.pairs] == ["01.png"]
    assert [(p.name, p.ir, p.vis) for p in match_pairs(tmp_path / "ir", tmp_path / "vis")] == [
        (p.name, p.ir, p.vis) for p in ds.pairs
    ]
    shutil.copy(tno / "ir" / "02.bmp", tmp_path / "ir" / "01.png")  # two ir files with stem 01
    with pytest.raises(ValueError, match=r"stem '01' used by 2 files"):
        PairedImageFolder(tmp_path, crop=CropPolicy(size=64))
    # the TNO test set is all 40 pairs of the folder, named by stem
    pairs = dataset_pairs("tno", data_dir)
    assert len(pairs) == 40 and pairs[0] == ("01", tno / "ir" / "01.bmp", tno / "vis" / "01.bmp")


def _cfg(small_data, out, **kw):
    base = dict(data=str(small_data), split=None, out=str(out), epochs=3, fusion_epochs=0, batch_size=6, crop_size=64,
                crops_per_image=1, random_crop=False, flip=False, progress=False, model={"width": 8}, lr_step_epochs=2)
    base.update(kw)
    return TrainConfig(**base)


def test_training_reduces_loss_resumes_and_writes_a_loadable_folder(small_data, tmp_path):
    bf16 = cpu_supports_bf16()  # emulated bfloat16 is several times slower than float32
    cfg = _cfg(small_data, tmp_path / "run", epochs=6, crops_per_image=2, random_crop=True, flip=True, bf16=bf16,
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
    more = _cfg(small_data, tmp_path / "run", epochs=8, crops_per_image=2, random_crop=True, flip=True, bf16=bf16,
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


def test_torchrun_two_cpu_processes_train_one_model(small_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "normfuse", "train", "--data", str(small_data), "--out", str(out), "--max-steps", "2",
           "--batch-size", "3", "--width", "8", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    # the run checks that both processes end with the same weights, and leaves no per-rank files
    assert not list(out.glob("rank*"))
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == [2]
    assert NormFuser.from_pretrained(out / "final", device="cpu").fuse(torch.rand(8, 8), torch.rand(8, 8)).shape == (8, 8)


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli_args(*argv):
    from normfuse.cli import build_parser

    return build_parser().parse_args(["train", *argv])


def test_fusion_stage_trains_the_decoder_on_fused_features(small_data, tmp_path):
    cfg = _cfg(small_data, tmp_path / "two", epochs=1, fusion_epochs=1, fusion_batch_size=4)
    final = train(cfg)
    rows = list(csv.DictReader(open(tmp_path / "two" / "log.csv")))
    assert len(rows) == 2
    assert rows[0]["int"] == "nan" and float(rows[0]["rec_ir"]) > 0        # stage 1: the letter's loss
    assert float(rows[1]["int"]) > 0 and float(rows[1]["fgrad"]) > 0        # stage 2: the fusion loss
    assert int(rows[1]["step"]) - int(rows[0]["step"]) == 2                  # 6 crops in batches of 4
    # stage 2 leaves the encoder as stage 1 ended it: compare with a run of stage 1 alone
    one = train(_cfg(small_data, tmp_path / "one", epochs=1))
    a = NormFuser.from_pretrained(one, device="cpu").net.state_dict()
    b = NormFuser.from_pretrained(final, device="cpu").net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("encoder."))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder.") and a[k].is_floating_point())


def test_resume_with_no_other_flag_keeps_the_runs_settings(small_data, tmp_path, capsys):
    """A run stopped after its first epoch and resumed with --out RUN --resume ends as the run said."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "normfuse", "train", "--data", str(small_data), "--out", str(run), "--epochs", "60",
           "--fusion-epochs", "0", "--width", "8", "--crop-size", "48", "--batch-size", "12", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import time

    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    from normfuse.cli import main

    # a second training of the folder while the first runs: refused, and the run is left to the first
    log_before = (run / "log.csv").read_bytes()
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 2, "the first run ended too soon"
    assert f"is being trained by another process (pid {proc.pid} on " in capsys.readouterr().err
    assert (run / "log.csv").read_bytes()[:len(log_before)] == log_before
    proc.kill()
    proc.wait()
    assert (run / ".lock").read_text().split()[0] == str(proc.pid), "a killed run leaves its lock: stale"
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert 1 <= ck["epoch"] < 60, "the run was not stopped part-way"
    before = (run / "train_config.json").read_bytes()

    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0
    assert (run / "train_config.json").read_bytes() == before
    assert not (run / ".lock").exists()
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["epoch"]) for r in rows][-1] == 60
    assert NormFuser.from_pretrained(run / "final", device="cpu").config.width == 8


def test_run_lock_refuses_a_live_holder_and_replaces_a_stale_one(tmp_path):
    import socket

    from normfuse.train.checkpoint import RunFolder, RunLockedError

    run = RunFolder(tmp_path / "runs" / "run")
    with run.lock(resume=False):
        assert run.lock_path.read_text().split() == [str(os.getpid()), socket.gethostname()]
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()} on .*delete .*\.lock"):
            with run.lock(resume=True):
                pass
    assert not (tmp_path / "runs").exists(), "a new run that wrote nothing leaves no folder"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.path.mkdir(parents=True)
    run.lock_path.write_text(f"{dead.pid} {socket.gethostname()}\n")  # left by a killed run
    with run.lock(resume=True):
        assert run.lock_path.read_text().split()[0] == str(os.getpid())
    assert not run.lock_path.exists()


def test_resume_of_a_finished_two_stage_run_extends_only_the_fusion_stage(small_data, tmp_path, monkeypatch, capsys):
    import json

    from normfuse.cli import main

    small = ["--width", "8", "--crop-size", "48", "--batch-size", "6", "--fusion-batch-size", "6",
             "--crops-per-image", "1", "--no-progress"]
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(small_data), "--out", "run", "--epochs", "1", "--fusion-epochs", "1", *small]) == 0
    run = tmp_path / "run"
    before = (run / "train_config.json").read_bytes()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the same run by another (relative) path: its settings stay
    assert main(["train", "--out", "../run", "--resume", "--no-progress"]) == 0
    assert (run / "train_config.json").read_bytes() == before
    # --epochs 2 would train a letter-stage epoch after the fusion stage: refused, nothing changed
    snapshot = _files(run)
    assert main(["train", "--out", "../run", "--resume", "--epochs", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "1 letter-stage and 1 fusion-stage epochs" in err and "--fusion-epochs N (N > 1)" in err, err
    assert _files(run) == snapshot
    # --fusion-epochs 2 extends the fusion stage by one epoch
    assert main(["train", "--out", "../run", "--resume", "--fusion-epochs", "2", "--no-progress"]) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert rows[0]["int"] == "nan" and float(rows[2]["int"]) > 0  # the new epoch is a fusion-stage epoch
    saved = json.loads((run / "train_config.json").read_text())
    assert (saved["epochs"], saved["fusion_epochs"], saved["out"]) == (1, 2, "run")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["letter_epochs"] == 1


def test_a_failed_resume_changes_nothing(small_data, tmp_path):
    run = tmp_path / "run"
    train(_cfg(small_data, run, epochs=1))
    snapshot = _files(run)
    from normfuse.cli import main

    # a flag that does not fit the checkpoint: a clear message, not a torch traceback
    args = _cli_args("--out", str(run), "--resume", "--width", "16", "--no-progress")
    from normfuse.commands.train import config_from_args

    with pytest.raises(ValueError, match="does not fit the model"):
        train(config_from_args(args), resume=True)
    assert main(["train", "--out", str(run), "--resume", "--width", "16"]) == 2
    # the data folder is gone
    moved = tmp_path / "moved"
    os.rename(small_data, moved)
    try:
        assert main(["train", "--out", str(run), "--resume", "--epochs", "3"]) == 2
    finally:
        os.rename(moved, small_data)
    assert _files(run) == snapshot
    # resuming a folder that holds no run
    assert main(["train", "--out", str(tmp_path / "nothing"), "--resume"]) == 2
    assert not (tmp_path / "nothing").exists()


def test_cli_defaults_are_the_default_models_recipe(tmp_path):
    from normfuse.commands.train import config_from_args
    from normfuse.models import DEFAULT_MODEL, get_model_info
    from normfuse.train.config import TrainConfig

    cfg = config_from_args(_cli_args("--data", "pairs", "--out", str(tmp_path / "r")))
    assert cfg == TrainConfig(data=["pairs"], out=str(tmp_path / "r"))
    folder = get_model_info(DEFAULT_MODEL).folder
    stage1 = TrainConfig.from_json(folder / "stage1-train_config.json")
    stage2 = TrainConfig.from_json(folder / "stage2-train_config.json")
    assert NormFuser.from_pretrained(device="cpu").config.width == cfg.model["width"] == stage1.model["width"]
    for name in ("epochs", "batch_size", "lr", "lr_step_epochs", "lr_gamma", "crop_size", "crops_per_image",
                 "random_crop", "flip", "loss"):
        assert getattr(stage1, name) == getattr(cfg, name), name
    for name in ("fusion_epochs", "fusion_batch_size", "fusion_lr", "photometric", "reconstruction",
                 "freeze_encoder", "crop_size", "crops_per_image", "random_crop", "flip"):
        assert getattr(stage2, name) == getattr(cfg, name), name
    # settings added later take their defaults (off) when a settings file predates them
    assert FusionLossWeights(**stage2.fusion_loss) == FusionLossWeights(**cfg.fusion_loss)
    assert stage2.epochs == 0 and stage2.init == "normfuse-letter"


def test_no_training_data_says_what_to_pass(tmp_path):
    from normfuse.cli import main

    assert main(["train", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="pass --data DIR"):
        train(TrainConfig(out=str(tmp_path / "r"), progress=False))


def test_bf16_training_warns_on_a_cpu_without_native_bfloat16(small_data, tmp_path, monkeypatch):
    """Runs on every CPU: the CPU flag is simulated (this machine has AVX512-BF16 and AMX, the common case here)."""
    import warnings

    from normfuse import devices

    monkeypatch.setattr(devices, "_warned_emulated_bf16", False)  # once per process: earlier tests may have warned
    monkeypatch.setattr(devices, "cpu_supports_bf16", lambda: False)
    with pytest.warns(devices.EmulatedBF16Warning, match="--bf16"):
        train(_cfg(small_data, tmp_path / "r", epochs=1, bf16=True, max_steps=1))
    # once per process, and never on a CPU with native bfloat16
    monkeypatch.setattr(devices, "_warned_emulated_bf16", False)
    monkeypatch.setattr(devices, "cpu_supports_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", devices.EmulatedBF16Warning)
        assert devices.warn_if_bf16_emulated(torch.device("cpu")) is False
    monkeypatch.setattr(devices, "cpu_supports_bf16", lambda: False)
    with pytest.warns(devices.EmulatedBF16Warning):
        assert devices.warn_if_bf16_emulated(torch.device("cpu")) is True
    with warnings.catch_warnings():
        warnings.simplefilter("error", devices.EmulatedBF16Warning)
        assert devices.warn_if_bf16_emulated(torch.device("cpu")) is True  # said once already


def test_photometric_augmentation_darkens_brightens_and_flattens():
    import numpy as np

    from normfuse.train.config import Photometric

    x = np.linspace(0.05, 0.95, 64 * 64, dtype=np.float32).reshape(64, 64)
    rng = np.random.default_rng(0)
    outs = [Photometric(p_gamma=1.0, p_flat=0.0)(x, rng) for _ in range(40)]
    means = [float(o.mean()) for o in outs]
    assert min(means) < x.mean() - 0.1 and max(means) > x.mean() + 0.02
    flat = Photometric(p_gamma=0.0, p_flat=1.0, flat_min=0.3)(x, rng)
    assert flat.std() < x.std() and abs(flat.mean() - x.mean()) < 1e-5
    with pytest.raises(ValueError, match="p_gamma"):
        Photometric(p_gamma=2.0)
