"""PEAN, PEANResBlock and ResBlock on their own, and inside a network that is not NormFuse."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from normfuse import PEAN, PEANResBlock, ResBlock
from normfuse.layers import Norm2d


def test_pean_formula_matches_letter():
    """out = gamma * (h - mu_c) / sigma_c + beta with per-pixel gamma, beta (batch statistics in training)."""
    torch.manual_seed(0)
    layer = PEAN(4, cond_channels=2, hidden_channels=3).train()
    h, cond = torch.randn(2, 4, 6, 7), torch.randn(2, 2, 6, 7)
    gamma, beta = layer.modulation(cond, (6, 7))
    assert gamma.shape == beta.shape == h.shape
    mu = h.mean(dim=(0, 2, 3), keepdim=True)
    sigma = (h.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(layer(h, cond), gamma * (h - mu) / sigma + beta, rtol=1e-5, atol=1e-5)


def test_pean_resizes_condition_and_gradients_reach_both_inputs():
    layer = PEAN(8, cond_channels=3)
    h = torch.randn(2, 8, 32, 24, requires_grad=True)
    cond = torch.randn(2, 3, 8, 6, requires_grad=True)
    out = layer(h, cond)
    assert out.shape == h.shape
    out.square().mean().backward()
    assert h.grad is not None and h.grad.abs().sum() > 0
    assert cond.grad is not None and cond.grad.abs().sum() > 0


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_norm_types(norm):
    layer = PEAN(4, 2, norm=norm).eval()
    out = layer(torch.randn(1, 4, 5, 5), torch.randn(1, 2, 5, 5))
    assert out.shape == (1, 4, 5, 5) and torch.isfinite(out).all()


def test_input_statistics_make_output_invariant_to_feature_scale():
    """With stats='input' the normalisation ignores an affine change of h, unlike running statistics."""
    torch.manual_seed(0)
    layer = PEAN(4, 2).eval()
    h, cond = torch.randn(1, 4, 9, 9), torch.randn(1, 2, 9, 9)
    a = layer(h, cond, norm_stats="input")
    b = layer(3 * h + 1, cond, norm_stats="input")
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(layer(h, cond), layer(3 * h + 1, cond), atol=1e-2)


def test_bad_shapes_name_the_problem():
    layer = PEAN(4, 2)
    with pytest.raises(ValueError, match=r"4 channels.*\(1, 3, 5, 5\)"):
        layer(torch.randn(1, 3, 5, 5), torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"cond must have 2 channels"):
        layer(torch.randn(1, 4, 5, 5), torch.randn(1, 5, 5, 5))
    with pytest.raises(ValueError, match="batch size"):
        layer(torch.randn(2, 4, 5, 5), torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        layer(torch.randn(4, 5, 5), torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match="norm must be"):
        Norm2d(4, "group")  # type: ignore[arg-type]


def test_blocks_change_channels():
    x, cond = torch.randn(1, 6, 11, 13), torch.randn(1, 2, 11, 13)
    assert PEANResBlock(6, 3, 2)(x, cond).shape == (1, 3, 11, 13)
    assert ResBlock(6, 3)(x).shape == (1, 3, 11, 13)
    assert ResBlock(6)(x).shape == x.shape


def test_pean_in_a_network_that_is_not_normfuse(tno_pair):
    """The example denoiser (examples/) learns on a real image: its loss falls."""
    path = Path(__file__).resolve().parents[1] / "examples" / "pean_in_another_network.py"
    spec = importlib.util.spec_from_file_location("pean_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    img = torch.from_numpy(tno_pair[1][:128, :128].astype("float32") / 255)[None, None]
    losses = module.train_steps(img, steps=40)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def _with_running_statistics(module: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial running statistics and affine weights, as training gives, then eval mode."""
    torch.manual_seed(1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, Norm2d) and m.norm == "batch":
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
    return module.eval()


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "zeros", "circular"])
@pytest.mark.parametrize("channels", [(6, 6), (6, 4)], ids=["identity-shortcut", "conv-shortcut"])
def test_blocks_fold_into_the_same_function(padding_mode, channels):
    """``fused()`` of each block computes what the block computes in eval mode (running statistics)."""
    cin, cout = channels
    res = _with_running_statistics(ResBlock(cin, cout, padding_mode=padding_mode, activation="leaky_relu"))
    pean = _with_running_statistics(PEANResBlock(cin, cout, 3, hidden_channels=5, padding_mode=padding_mode))
    x = torch.randn(2, cin, 9, 11)
    for cond in (torch.randn(2, 3, 9, 11), torch.randn(2, 3, 4, 5)):  # same size, and resized
        with torch.inference_mode():
            torch.testing.assert_close(pean.fused()(x, cond), pean(x, cond), rtol=1e-5, atol=1e-5)
    with torch.inference_mode():
        torch.testing.assert_close(res.fused()(x), res(x), rtol=1e-5, atol=1e-5)
        assert res.fused(torch.bfloat16)(x).dtype == torch.bfloat16
        assert (res.fused(torch.bfloat16)(x).float() - res(x)).abs().max() < 0.1


def test_what_cannot_be_folded_says_so():
    block = ResBlock(4).eval()
    with pytest.raises(ValueError, match="running statistics only"):
        block.fused()(torch.randn(1, 4, 5, 5), norm_stats="input")
    with pytest.raises(ValueError, match="cannot fold 'instance' normalisation"):
        ResBlock(4, norm="instance").fused()
    with pytest.raises(ValueError, match="same-size convolutions"):
        from normfuse.folded import FoldedConv2d

        FoldedConv2d.fold(torch.nn.Conv2d(2, 2, 3, stride=2, padding=1))
