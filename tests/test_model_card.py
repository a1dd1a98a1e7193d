"""The model card (weights/README.md) describes the files that ship: sha256, parameter count, copies."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from normfuse import NormFuser
from normfuse.weights import BUNDLED_DIR

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "weights" / "README.md"


def _sha_rows() -> list[tuple[str, str]]:
    """``(path, sha256)`` for every row of the card's file table."""
    rows = re.findall(r"^\| `([^`]+)`[^|]*\| `([0-9a-f]{64})` \|$", CARD.read_text(encoding="utf-8"), re.M)
    assert rows, "no sha256 table found in weights/README.md"
    return rows


@pytest.mark.parametrize("path, digest", _sha_rows())
def test_card_sha256_matches_the_file(path, digest):
    data = (ROOT / path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest, f"{path}: the sha256 in weights/README.md is stale"


def test_card_lists_the_bundled_file_and_ships_with_it():
    paths = [p for p, _ in _sha_rows()]
    bundled = (BUNDLED_DIR / "model.safetensors").resolve().relative_to(ROOT).as_posix()
    assert bundled in paths
    # the card inside the package is the same text as weights/README.md
    assert (BUNDLED_DIR / "README.md").read_text(encoding="utf-8") == CARD.read_text(encoding="utf-8")


def test_card_parameter_count_is_the_bundled_model():
    n = sum(p.numel() for p in NormFuser.from_pretrained(device="cpu").net.parameters())
    assert f"{n:,} parameters" in CARD.read_text(encoding="utf-8")


def test_rescat_ablation_weights_load_and_fuse(tno_pair):
    """The ablation's weights stay available for the comparison in docs/results.md."""
    rescat = NormFuser.from_pretrained(ROOT / "weights" / "rescat-roadscene", device="cpu")
    assert rescat.config.variant == "rescat"
    out = rescat.fuse(*tno_pair)
    assert out.shape == tno_pair[0].shape and 30 < out.mean() < 220


def test_fine_tuning_recipe_is_a_chain_from_the_120_epoch_model_to_the_bundled_one():
    """The stage configs the card points to load as training settings and follow one another."""
    from normfuse.train.loop import TrainConfig

    folder = ROOT / "weights" / "normfuse-roadscene-finetune"
    stages = [TrainConfig.from_json(folder / f"stage{i}-train_config.json") for i in range(1, 6)]
    assert (ROOT / stages[0].init / "model.safetensors").is_file()
    for before, after in zip(stages, stages[1:]):
        assert after.init == f"{before.out}/final"
    bundled = NormFuser.from_pretrained(device="cpu").config
    assert stages[-1].model["fusion"] == bundled.to_dict()["fusion"]
    assert bundled.bf16_tolerant and not stages[-1].model["bf16_tolerant"]  # set after bench_precision passed
    assert sum(s.epochs for s in stages) == 34  # "34 more epochs" in the card
    assert "34 more epochs" in CARD.read_text(encoding="utf-8")
