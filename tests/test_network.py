"""The NormFuse network: structure of the letter, shapes, config round trip, ResCat switch."""

from __future__ import annotations

import pytest
import torch

from normfuse.layers import PEANResBlock, ResBlock
from normfuse.network import Features, FusionRule, NormFuseConfig, NormFuseNet, fuse_features


def test_architecture_follows_the_letter():
    net = NormFuseNet(NormFuseConfig(width=8))
    enc, dec = net.encoder, net.decoder
    enc_convs = [m for name, m in enc.named_children() if name in ("conv_in", "to_structure", "to_detail")]
    assert len(enc_convs) == 3
    assert isinstance(enc.res1, ResBlock) and isinstance(enc.res2, ResBlock)
    assert isinstance(dec.block1, PEANResBlock) and isinstance(dec.block2, PEANResBlock)
    assert isinstance(dec.conv_out, torch.nn.Conv2d)
    # skip concatenation: block2 takes [p1, r2] and conv_out takes [p2, r1]
    assert dec.block2.conv1.in_channels == 16 and dec.conv_out.in_channels == 16


@pytest.mark.parametrize("size", [(1, 1, 17, 23), (2, 1, 32, 32), (1, 1, 2, 9)])
def test_feature_maps_keep_input_size_and_output_in_unit_range(size):
    net = NormFuseNet(NormFuseConfig(width=8)).eval()
    x = torch.rand(size)
    f = net.encode(x)
    for t in (f.structure, f.detail, *f.skips):
        assert t.shape == (size[0], 8, size[2], size[3])
    y = net.decode(f)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_rescat_is_a_switch_of_the_same_network():
    net = NormFuseNet(NormFuseConfig(width=8, variant="rescat")).eval()
    assert isinstance(net.decoder.block1, ResBlock) and net.decoder.block1.in_channels == 16
    assert not any("pean" in n for n, _ in net.named_modules())
    x = torch.rand(1, 1, 20, 20)
    assert net.fuse(x, x).shape == x.shape


def test_config_json_round_trip_and_unknown_fields():
    cfg = NormFuseConfig(width=12, pean_hidden=6, fusion=FusionRule(skip="max"), fusion_norm_stats="input")
    import json

    again = NormFuseConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    with pytest.raises(ValueError, match="unknown NormFuseConfig fields"):
        NormFuseConfig.from_dict({"width": 8, "depth": 3})
    with pytest.raises(ValueError, match="variant"):
        NormFuseConfig(variant="unet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="skip"):
        FusionRule(skip="median")  # type: ignore[arg-type]


def test_fusion_rules():
    a = Features(torch.ones(1, 2, 3, 3), torch.ones(1, 2, 3, 3), (torch.ones(1, 2, 3, 3), torch.ones(1, 2, 3, 3)))
    b = a.map(lambda t: 3 * t)
    assert fuse_features(a, b).structure.max() == 4  # the letter: S_F = S_I + S_V
    assert fuse_features(a, b, FusionRule(detail="mean")).detail.max() == 2
    assert fuse_features(a, b, FusionRule(skip="max")).skips[0].max() == 3
    assert fuse_features(a, b, FusionRule(structure="ir")).structure.max() == 1
    with pytest.raises(ValueError, match="cannot fuse features of shapes"):
        fuse_features(a, b.map(lambda t: t[..., :2]))


@pytest.mark.parametrize(
    "kwargs, error, msg",
    [
        ({"width": 8.5}, TypeError, r"width must be an integer, got 8\.5"),
        ({"in_channels": True}, TypeError, r"in_channels must be an integer"),
        ({"pean_hidden": 0}, ValueError, r"pean_hidden must be positive or null"),
        ({"activation": 3}, TypeError, r"activation must be a string"),
        ({"bf16_tolerant": "yes"}, TypeError, r"bf16_tolerant must be true or false"),
        ({"fusion": "sum"}, TypeError, r"fusion must be an object"),
        ({"fusion_norm_stats": "batch"}, ValueError, r"fusion_norm_stats must be 'running' or 'input'"),
    ],
)
def test_config_checks_its_own_fields(kwargs, error, msg):
    with pytest.raises(error, match=msg):
        NormFuseConfig(**kwargs)
    with pytest.raises(TypeError, match="expected a JSON object"):
        NormFuseConfig.from_dict([("width", 8)])  # type: ignore[arg-type]
