"""Files that are either absent or complete: hidden temporary names, atomic renames, cleaning up after killed runs.

A file is written to ``.<name>.normfuse-<pid>-<random>.part`` in its folder
(:func:`temporary_path`), then renamed into place (:func:`move_into_place`);
:func:`remove_stale_temporaries` deletes the temporary files of processes
that are gone. :func:`normfuse.io.atomic_write_image` and
:func:`normfuse.video.fuse_video` write this way.

Examples:
    >>> temporary_path("out/01.png").name.startswith(".01.png.normfuse-")
    True
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

__all__ = ["temporary_path", "move_into_place", "remove_stale_temporaries", "pid_alive"]

_TMP_TAG = ".normfuse-"  # temporary files: ".<output name>.normfuse-<pid>-<random>.part"
_TMP_END = ".part"

PathLike = str | os.PathLike


def temporary_path(path: PathLike) -> Path:
    """A fresh hidden temporary name next to ``path``: ``.<name>.normfuse-<pid>-<random>.part``."""
    path = Path(path)
    return path.with_name(f".{path.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}{_TMP_END}")


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def move_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename a finished temporary file to ``path`` atomically (the caller removes ``tmp`` if it is still there).

    With ``overwrite`` this is ``os.replace``; without, a hard link that fails if
    ``path`` appeared meanwhile (an existence check on file systems without hard links).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    exists = f"{str(path)!r} exists; pass overwrite=True (--overwrite) to replace it"
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # atomic, and never replaces a file that appeared meanwhile
        except FileExistsError:
            raise FileExistsError(exists) from None
        except OSError:  # no hard links on this file system (some network and FAT ones)
            if path.exists():
                raise FileExistsError(exists) from None
            os.replace(tmp, path)
    _fsync_dir(path.parent)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (always ``True`` on Windows, where it cannot be asked)."""
    if os.name == "nt":  # os.kill would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _stale_target(name: str) -> str | None:
    """The output name a temporary file ``name`` belongs to, if its process is gone; else ``None``."""
    if not (name.startswith(".") and name.endswith(_TMP_END) and _TMP_TAG in name):
        return None
    target, _, rest = name[1:-len(_TMP_END)].rpartition(_TMP_TAG)
    pid = rest.split("-", 1)[0]
    if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
        return target
    return None


def remove_stale_temporaries(outputs: Iterable[Path]) -> int:
    """Delete temporary files of these outputs left by runs that were killed (their process is gone).

    Returns:
        How many files were removed.
    """
    wanted: dict[Path, set[str]] = {}
    for out in outputs:
        wanted.setdefault(out.parent, set()).add(out.name)
    removed = 0
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if _stale_target(e.name) in names:
                try:
                    os.unlink(e.path)
                    removed += 1
                except OSError:
                    pass
    return removed
