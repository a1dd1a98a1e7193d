"""A small real IR/visible pair shipped with the package, and the location of the real data sets.

``tno17_ir.png`` / ``tno17_vis.png`` are pair 17 of the TNO test set used by
this project (a man with an umbrella by a bus shelter, 620 x 450, 8-bit grey),
from the TNO Image Fusion Dataset by A. Toet (figshare,
doi:10.6084/m9.figshare.1008029, published there under CC BY 4.0), converted
losslessly from BMP to PNG.

Examples:
    >>> ir_path, vis_path = sample_pair_paths()
    >>> ir_path.name, vis_path.name
    ('tno17_ir.png', 'tno17_vis.png')
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["sample_pair_paths", "data_root", "DATA_ENV"]

_HERE = Path(__file__).resolve().parent

#: Environment variable naming the folder that holds ``roadscene/`` and ``tno/``.
DATA_ENV = "NORMFUSE_DATA"


def sample_pair_paths() -> tuple[Path, Path]:
    """Paths of the bundled TNO pair ``(ir, vis)``."""
    return _HERE / "tno17_ir.png", _HERE / "tno17_vis.png"


def data_root() -> Path:
    """Folder of the real data sets: ``$NORMFUSE_DATA``, else ``../shared/data`` from the project root.

    The project root is taken as the current working directory (where tests,
    benchmarks and the CLI are run from).
    """
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else Path.cwd() / ".." / "shared" / "data"
