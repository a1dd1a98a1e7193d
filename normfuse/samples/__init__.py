"""A small real IR/visible pair shipped with the package, and where the caller keeps the real data sets.

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


def data_root(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the real data sets (``tno/``, ``roadscene/``): ``path``, else ``$NORMFUSE_DATA``.

    There is no other default: the package does not guess a folder from the
    current directory.  ``normfuse evaluate --data DIR`` passes ``path``.

    Raises:
        FileNotFoundError: neither ``path`` nor ``$NORMFUSE_DATA`` is given, or the
            folder does not exist (the message says to pass ``--data DIR`` or set
            ``NORMFUSE_DATA``).

    Examples:
        >>> data_root(_HERE) == _HERE
        True
        >>> data_root("/no/such/folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: data folder '/no/such/folder' does not exist: pass --data DIR (or set NORMFUSE_DATA)
    """
    how = f"pass --data DIR (or set {DATA_ENV})"
    if path is None:
        path = os.environ.get(DATA_ENV) or None
        if path is None:
            raise FileNotFoundError(f"no data folder given: {how}")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {str(root)!r} does not exist: {how}")
    return root
