"""The example scripts run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
from fusion_checks import assert_fuses

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_fuse_one_pair_script(tmp_path):
    out = tmp_path / "fused.png"
    from normfuse.samples import sample_pair_paths

    ir, vis = sample_pair_paths()
    res = subprocess.run([sys.executable, str(EXAMPLES / "fuse_one_pair.py"), str(ir), str(vis), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert iio.imread(out).shape == iio.imread(ir).shape
    assert_fuses(iio.imread(out), iio.imread(ir), iio.imread(vis))  # a fusion, not a copy, average or maximum
