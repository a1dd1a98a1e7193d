"""The model cards (weights/README.md and each shipped model's README.md) describe the files: sha256, parameters."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fusion_checks import assert_fuses

from normfuse import NormFuser, list_models

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "weights" / "README.md"


def _sha_rows(card: Path = CARD) -> list[tuple[str, str]]:
    """``(path, sha256)`` for every row of a card's file tables."""
    rows = re.findall(r"^\| `([^`]+)`[^|]*\| `([0-9a-f]{64})` \|$", card.read_text(encoding="utf-8"), re.M)
    assert rows, f"no sha256 table found in {card}"
    return rows


@pytest.mark.parametrize("path, digest", _sha_rows())
def test_card_sha256_matches_the_file(path, digest):
    data = (ROOT / path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest, f"{path}: the sha256 in weights/README.md is stale"


@pytest.mark.parametrize("model", list_models(), ids=lambda m: m.name)
def test_every_shipped_model_has_its_own_card_and_is_in_the_index(model):
    weights = (model.folder / "model.safetensors").resolve().relative_to(ROOT).as_posix()
    digest = hashlib.sha256((ROOT / weights).read_bytes()).hexdigest()
    assert (weights, digest) in _sha_rows(model.folder / "README.md")
    assert (weights, digest) in _sha_rows()
    assert f"`{model.name}`" in CARD.read_text(encoding="utf-8")


def test_card_parameter_count_is_the_bundled_model():
    n = sum(p.numel() for p in NormFuser.from_pretrained(device="cpu").net.parameters())
    assert f"{n:,} parameters" in CARD.read_text(encoding="utf-8")


def test_rescat_ablation_weights_load_and_fuse(tno_pair):
    """The ablation's weights stay available for the comparison in docs/results.md."""
    rescat = NormFuser.from_pretrained(ROOT / "weights" / "rescat-roadscene", device="cpu")
    assert rescat.config.variant == "rescat"
    out = rescat.fuse(*tno_pair)
    assert out.shape == tno_pair[0].shape
    assert_fuses(out, *tno_pair)  # TNO 17: share 0.75 (need 0.60), detail 0.72 (need 0.43)


def test_fine_tuning_recipe_is_a_chain_from_the_120_epoch_model_to_normfuse_roadscene():
    """The stage configs the card points to load as training settings and follow one another."""
    from normfuse.train import TrainConfig

    folder = ROOT / "weights" / "normfuse-roadscene-finetune"
    stages = [TrainConfig.from_json(folder / f"stage{i}-train_config.json") for i in range(1, 6)]
    assert (ROOT / stages[0].init / "model.safetensors").is_file()
    for before, after in zip(stages, stages[1:]):
        assert after.init == f"{before.out}/final"
    bundled = NormFuser.from_pretrained("normfuse-roadscene", device="cpu").config
    assert stages[-1].model["fusion"] == bundled.to_dict()["fusion"]
    assert bundled.bf16_tolerant and not stages[-1].model["bf16_tolerant"]  # set after bench_precision passed
    assert sum(s.epochs for s in stages) == 34  # "34 more epochs" in the card
    assert "34 more epochs" in CARD.read_text(encoding="utf-8")
