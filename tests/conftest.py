"""Shared fixtures: the real data sets (``$NORMFUSE_DATA``, default ``../shared/data`` next to this checkout).

The default belongs to the tests and benchmarks of this repository, not to the
package: :func:`normfuse.samples.data_root` has no default folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from normfuse.samples import DATA_ENV

#: The checkout this test suite belongs to (not the current directory).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def repo_data_root() -> Path:
    """``$NORMFUSE_DATA``, else ``../shared/data`` relative to the project root (whatever the current directory)."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


def missing_shared(msg: str) -> NoReturn:
    """Shared data (``../shared``) is missing: fail under CI (``CI`` set), skip elsewhere.

    The one place a test may skip for missing data (``tests/test_ci_data.py`` checks that no test skips otherwise).
    """
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI is set: shared data must be present)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root holding ``tno/`` and ``roadscene/``; fails in CI and skips elsewhere when it is missing."""
    root = repo_data_root().resolve()
    if not (root / "tno" / "ir").is_dir() or not (root / "roadscene" / "ir").is_dir():
        missing_shared(f"real data not found at {str(root)!r}; set {DATA_ENV} to the folder holding tno/ and roadscene/")
    return root


@pytest.fixture(scope="session")
def calibration_dir(data_dir) -> Path:
    """``../shared/calibration/didfuse`` (next to the data folder): DIDFuse's released fused images, ``tno/`` and
    ``roadscene/``; fails in CI and skips elsewhere when it is missing."""
    root = data_dir.parent / "calibration" / "didfuse"
    if not (root / "tno").is_dir() or not (root / "roadscene").is_dir():
        missing_shared(f"DIDFuse calibration images not found at {str(root)!r} (next to the data folder)")
    return root


@pytest.fixture(scope="session")
def tno_pair(data_dir):
    """One real TNO pair ``(ir, vis)`` as uint8 (H, W) arrays."""
    import imageio.v3 as iio

    return iio.imread(data_dir / "tno" / "ir" / "17.bmp"), iio.imread(data_dir / "tno" / "vis" / "17.bmp")


@pytest.fixture(scope="session")
def small_data(data_dir, tmp_path_factory):
    """Six real RoadScene training pairs, linked into a temporary ir/ + vis/ folder (training tests)."""
    names = json.loads((data_dir / "roadscene" / "split.json").read_text())["train"][:6]
    root = tmp_path_factory.mktemp("pairs")
    for sub in ("ir", "vis"):
        (root / sub).mkdir()
        for n in names:
            os.symlink(data_dir / "roadscene" / sub / n, root / sub / n)
    return root


@pytest.fixture(scope="session")
def roadscene_pair(data_dir):
    """One real RoadScene test pair: IR uint8 (H, W), visible uint8 RGB (H, W, 3)."""
    import json

    import imageio.v3 as iio

    name = json.loads((data_dir / "roadscene" / "split.json").read_text())["test"][0]
    ir = iio.imread(data_dir / "roadscene" / "ir" / name)
    vis = iio.imread(data_dir / "roadscene" / "vis" / name)
    return np.asarray(ir), np.asarray(vis)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny-image tests: fastest, and no stalls when other work shares the CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_120ep() -> Path:
    """The first bundled model (120 epochs, rule sum:max:sum), which bf16 moves by up to 7 grey levels."""
    return Path(__file__).resolve().parents[1] / "weights" / "normfuse-roadscene-120ep"
