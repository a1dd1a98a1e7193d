"""Under CI (``CI`` set) a test that needs the shared data (``../shared/data``, ``../shared/calibration``) fails when
the data is missing; elsewhere it is skipped.  Checked by running the data fixtures in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

# one test behind each shared-data fixture: data_dir (and tno_pair), calibration_dir (two modules use it)
DATA_TEST = "tests/test_fuser.py::test_paths_are_read"
CALIBRATION_TESTS = ["tests/test_metrics.py::test_calibration_reproduces_didfuse_table",
                     "tests/test_conventions.py::test_tang_2022_and_cddfuse_show_their_published_scales"]


def _pytest(data: Path, ci: bool, *tests: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["NORMFUSE_DATA"] = str(data)
    if ci:
        env["CI"] = "true"
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header", "-rfEs", *tests], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    summary = res.stdout.strip().splitlines()[-1]
    assert (res.returncode != 0) == ci, res.stdout[-3000:]
    return summary


def test_missing_shared_data_fails_under_ci_and_skips_elsewhere(data_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    summary = _pytest(empty, True, DATA_TEST)
    assert re.search(r"\b1 error\b", summary) and "skipped" not in summary, summary
    # data present, calibration missing: the folder next to this data folder has no calibration/
    data = tmp_path / "only-data" / "data"
    data.mkdir(parents=True)
    for name in ("tno", "roadscene"):
        os.symlink(data_dir / name, data / name)
    summary = _pytest(data, True, *CALIBRATION_TESTS)  # 3 tests: the table test runs on TNO and RoadScene
    assert re.search(r"\b3 errors\b", summary) and "skipped" not in summary, summary
    summary = _pytest(data, False, *CALIBRATION_TESTS)
    assert re.search(r"\b3 skipped\b", summary) and "error" not in summary, summary


def test_no_test_skips_for_missing_data_by_itself():
    """Only conftest.missing_shared may skip (it fails under CI); shared folders are reached only through fixtures."""
    for path in sorted(TESTS.glob("*.py")):
        if path.name in ("conftest.py", Path(__file__).name):
            continue
        text = path.read_text(encoding="utf-8")
        assert "pytest.skip(" not in text and "mark.skip" not in text, f"{path.name}: use conftest.missing_shared"
        assert '"calibration"' not in text, f"{path.name}: reach ../shared/calibration through calibration_dir"
