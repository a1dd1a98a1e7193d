"""Fine-tuning for bf16: the rounding simulation, the gap loss, and the fine-tune settings of train()."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from normfuse import NormFuser
from normfuse.inference import FusionPlan
from normfuse.network import FusionRule
from normfuse.train.loop import TrainConfig, train
from normfuse.train.precision import bf16_gap_loss, round_bf16, simulated_bf16


def test_round_bf16_rounds_forward_and_passes_gradients_through():
    x = torch.tensor([1.0 + 2**-10, 0.3], requires_grad=True)
    y = round_bf16(x)
    assert y[0].item() == 1.0 and y.dtype == torch.float32
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(2))


def test_error_scale_multiplies_the_rounding_error():
    x = torch.tensor([1.0 + 2**-10, 0.3])
    err = round_bf16(x) - x
    assert torch.allclose(round_bf16(x, 2.0) - x, 2 * err)


def test_simulation_with_an_error_scale_moves_fused_pixels_further(tno_pair):
    torch.set_num_threads(1)
    net = NormFuser.from_pretrained(device="cpu", precision="fp32").net
    ir, vis = (torch.from_numpy(a.astype(np.float32) / 255)[None, None, :96, :96] for a in tno_pair)
    with torch.inference_mode():
        exact = net.fuse(ir, vis)
        errs = []
        for scale in (1.0, 3.0):
            with simulated_bf16(net, error_scale=scale):
                errs.append((net.fuse(ir, vis) - exact).std().item())
    assert 1.8 < errs[1] / errs[0] < 4.5, errs
    with pytest.raises(ValueError, match="error_scale"):
        with simulated_bf16(net, error_scale=0.0):
            pass


def test_gap_loss_counts_grey_levels():
    a = torch.zeros(1, 1, 4, 4)
    assert bf16_gap_loss(a, a).item() == 0.0
    small = bf16_gap_loss(a, a + 0.4 / 255).item()
    assert small == pytest.approx(0.16, rel=1e-4)  # below the 0.5-level tolerance: only the mean square
    assert bf16_gap_loss(a, a + 2 / 255).item() == pytest.approx(4 + 10 * 1.5**2, rel=1e-4)


def test_simulation_matches_the_real_bf16_plan_and_restores_the_network(tno_pair):
    """The simulated rounding moves fused pixels about as much as the bf16 plan does, then leaves no trace."""
    torch.set_num_threads(1)
    net = NormFuser.from_pretrained(device="cpu", precision="fp32").net
    ir, vis = (torch.from_numpy(a.astype(np.float32) / 255)[None, None, :160, :200] for a in tno_pair)
    rule = FusionRule()
    with torch.inference_mode():
        exact = net.fuse(ir, vis, rule)
        plan_err = (FusionPlan(net, dtype=torch.bfloat16)(ir, vis, rule) - FusionPlan(net)(ir, vis, rule)) * 255
        with simulated_bf16(net):
            sim_err = (net.fuse(ir, vis, rule) - exact) * 255
        after = net.fuse(ir, vis, rule)
    assert torch.equal(after, exact)  # restored
    ratio = sim_err.std().item() / plan_err.std().item()
    assert 0.5 < ratio < 2.0, ratio
    assert sim_err.abs().max() > 0.05  # it does round


def test_fine_tune_from_bundled_with_bf16_and_distill_terms(small_data, tmp_path):
    cfg = TrainConfig(data=str(small_data), split=None, out=str(tmp_path / "ft"), epochs=1, batch_size=2,
                      fusion_epochs=0, crop_size=48, progress=False, lr=1e-4, init="bundled", freeze_norm_stats=True,
                      bf16_consistency=1.0, distill=10.0, fusion={"structure": "sum", "detail": "max", "skip": "sum"})
    bundled = NormFuser.from_pretrained(device="cpu").net
    final = train(cfg)
    row = next(csv.DictReader(open(tmp_path / "ft" / "log.csv")))
    assert float(row["bf16_gap"]) > 0 and float(row["distill"]) > 0  # zero at the first step, not at the second
    parts = sum(float(row[k]) for k in ("de", "rec_ir", "rec_vis", "grad"))  # unweighted, so total differs
    assert np.isfinite(parts) and float(row["total"]) != parts
    tuned = NormFuser.from_pretrained(final, device="cpu").net
    assert tuned.config.fusion == FusionRule(detail="max")  # the rule given replaces the starting model's
    assert bundled.config.fusion != tuned.config.fusion
    assert tuned.config.width == bundled.config.width
    recorded = json.loads((tmp_path / "ft" / "train_config.json").read_text())
    assert recorded["init"] == "bundled" and recorded["model"]["width"] == bundled.config.width
    # frozen statistics: the running means are the starting model's; the weights moved
    sd_a, sd_b = bundled.state_dict(), tuned.state_dict()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a if k.endswith(("running_mean", "running_var")))
    assert any(not torch.equal(sd_a[k], sd_b[k]) for k in sd_a if k.endswith("weight"))


def test_fine_tune_settings_that_cannot_work_are_refused(small_data, tmp_path):
    base = dict(data=str(small_data), split=None, out=str(tmp_path / "x"), epochs=1, progress=False)
    with pytest.raises(ValueError, match="bf16=False"):
        train(TrainConfig(**base, init="bundled", bf16_consistency=1.0, bf16=True))
    with pytest.raises(ValueError, match="set init"):
        train(TrainConfig(**base, distill=1.0))
    with pytest.raises(ValueError, match="bf16_error_scale must be positive"):
        train(TrainConfig(**base, init="bundled", bf16_consistency=1.0, bf16_error_scale=-1.0))
    with pytest.raises(ValueError, match="bf16_path must be 'torch' or 'openvino'"):
        train(TrainConfig(**base, init="bundled", bf16_consistency=1.0, bf16_path="onnx"))
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_fine_tuned_weights_lose_the_bf16_tolerant_flag(small_data, tmp_path):
    """New weights are not trusted in bf16 until checked again, even when the starting model was."""
    start = NormFuser.from_pretrained(device="cpu")
    start.save_pretrained(tmp_path / "start")
    cfg_path = tmp_path / "start" / "config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "bf16_tolerant": True}))
    assert NormFuser.from_pretrained(tmp_path / "start", device="cpu").config.bf16_tolerant
    final = train(TrainConfig(data=str(small_data), split=None, out=str(tmp_path / "ft"), epochs=1, batch_size=2,
                              fusion_epochs=0, crop_size=48, max_steps=1, progress=False, init=str(tmp_path / "start")))
    assert not NormFuser.from_pretrained(final, device="cpu").config.bf16_tolerant


def test_openvino_simulation_rounds_every_layer_and_restores_the_network(tno_pair):
    """``path="openvino"`` rounds like the OpenVINO bf16 graph (no float32 layer): it moves fused pixels more than
    the torch plan's simulation (measured on the sample pair: 0.28 against 0.20 grey levels, standard
    deviation), the same order as the real OpenVINO graph (0.39 on an AMX CPU), and leaves no trace."""
    torch.set_num_threads(1)
    net = NormFuser.from_pretrained(device="cpu", precision="fp32").net
    ir, vis = (torch.from_numpy(a.astype(np.float32) / 255)[None, None, :96, :96] for a in tno_pair)
    with torch.inference_mode():
        exact = net.fuse(ir, vis)
        errs = {}
        for path in ("torch", "openvino"):
            with simulated_bf16(net, path=path):
                errs[path] = ((net.fuse(ir, vis) - exact) * 255).std().item()
        assert torch.equal(net.fuse(ir, vis), exact)  # restored
    assert 1.15 < errs["openvino"] / errs["torch"] < 3.0, errs
    with pytest.raises(ValueError, match="path"):
        with simulated_bf16(net, path="onnx"):  # type: ignore[arg-type]
            pass
    from normfuse.devices import cpu_supports_bf16
    from normfuse.runtime import openvino_available

    if openvino_available() and cpu_supports_bf16():  # the real graph, where OpenVINO runs bf16 natively
        real = NormFuser.from_pretrained(device="cpu", precision="bf16", backend="openvino").runtime
        real_err = ((real.fuse_tile(ir, vis) - exact) * 255).std().item()
        assert 0.5 < real_err / errs["openvino"] < 3.0, (real_err, errs)
