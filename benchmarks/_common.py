"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``)."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout these scripts belong to (not the current directory).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The real data sets: ``$NORMFUSE_DATA``, else ``../shared/data`` relative to the project root.

    This default belongs to this repository's benchmarks and tests; the package itself has none.
    """
    env = os.environ.get("NORMFUSE_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


def sample_pair(h: int, w: int):
    """The bundled sample TNO pair resized (bilinear) to ``h`` x ``w``, as two uint8 arrays."""
    import numpy as np
    from skimage.transform import resize

    from normfuse.io import read_image
    from normfuse.samples import sample_pair_paths

    return tuple(
        (resize(read_image(p), (h, w), order=1, anti_aliasing=False) * 255).round().astype(np.uint8)
        for p in sample_pair_paths()
    )
