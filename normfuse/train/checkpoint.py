"""The run folder: its settings file, the per-epoch checkpoint and the epoch log.

A run folder ``<out>`` holds ``train_config.json`` (the settings),
``checkpoint.pt`` (weights, optimiser, scheduler, epoch and step, written
atomically after every epoch), ``log.csv`` (one row per epoch) and, at the end,
``final/`` (the model folder).  Nothing in it is changed until a new run or a
resume has been checked: a failed resume leaves the folder as it was.  While a
training runs, ``.lock`` holds its process id and machine name
(:meth:`RunFolder.lock`): a second training of the folder refuses to start.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import pid_alive
from .config import CONFIG_FILE, TrainConfig

__all__ = ["RunFolder", "RunLockedError", "LOG_FIELDS"]

#: Columns of ``log.csv``.
LOG_FIELDS = ("epoch", "step", "lr", "total", "de", "rec_ir", "rec_vis", "grad", "int", "fgrad", "fssim", "fdark",
              "fcontrast", "fhighlight", "fovershoot", "ftarget", "bf16_gap", "distill", "seconds")


class RunLockedError(FileExistsError):
    """Another training is running on this run folder (its ``.lock`` names a live process)."""


@dataclass(frozen=True)
class RunFolder:
    """Paths and file operations of one run folder."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def log_path(self) -> Path:
        return self.path / "log.csv"

    @property
    def final(self) -> Path:
        return self.path / "final"

    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    @contextmanager
    def lock(self, resume: bool) -> Iterator[None]:
        """Hold ``.lock`` (``"<pid> <host>"``) for the duration of a training of this folder.

        A new run creates the folder (and removes what it created if it is left empty);
        a resume needs it to exist.  A lock left by a process of this machine
        that is gone (a killed run) is stale and replaced.

        Raises:
            RunLockedError: a live process (or one on another machine) holds the lock.
            FileNotFoundError: resuming a folder that does not exist.
        """
        if resume and not self.path.is_dir():
            raise FileNotFoundError(f"cannot resume: {str(self.path)!r} does not exist")
        created = [p for p in (self.path, *self.path.parents) if not p.exists()]  # innermost first
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._take_lock()
        except BaseException:
            self._remove_if_empty(created)
            raise
        try:
            yield
        finally:
            self.lock_path.unlink(missing_ok=True)
            self._remove_if_empty(created)

    def _take_lock(self) -> None:
        me = f"{os.getpid()} {socket.gethostname()}\n"
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.lock_path.read_text(errors="replace").split() if self.lock_path.exists() else []
                pid, host = (holder + ["", ""])[:2]
                if not holder or (host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))):
                    self.lock_path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise RunLockedError(
                    f"{str(self.path)!r} is being trained by another process (pid {pid} on {host}): wait until it "
                    f"ends, or, if that process is gone, delete {str(self.lock_path)!r}"
                ) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            return
        raise RunLockedError(f"could not take the lock {str(self.lock_path)!r}: another process keeps taking it")

    @staticmethod
    def _remove_if_empty(created: list[Path]) -> None:
        for folder in created:
            if not folder.is_dir() or any(folder.iterdir()):
                return
            folder.rmdir()

    def recorded_config(self) -> dict[str, Any] | None:
        """The settings in ``train_config.json`` as a dict (``None`` when there is no such file)."""
        return json.loads(self.config_path.read_text()) if self.config_path.is_file() else None

    def check_new(self) -> None:
        """Refuse to start a new run over an existing one."""
        if self.checkpoint_path.exists():
            raise FileExistsError(
                f"{str(self.checkpoint_path)!r} exists: pass resume=True (--resume) or choose another --out"
            )

    def load_checkpoint(self, device: torch.device) -> dict[str, Any]:
        """The saved state (a ``FileNotFoundError`` naming the file when there is none)."""
        if not self.checkpoint_path.exists():
            raise FileNotFoundError(f"cannot resume: {str(self.checkpoint_path)!r} does not exist")
        return torch.load(self.checkpoint_path, map_location=device, weights_only=True)

    def write_config(self, cfg: TrainConfig, resume: bool = False) -> None:
        """Write the settings, leaving the file untouched when it already says the same.

        When resuming, the recorded ``out`` is kept: it names this folder however
        it is reached now (e.g. by a relative path from another directory).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        recorded = self.recorded_config() if resume else None
        if recorded is not None and "out" in recorded:
            cfg = dataclasses.replace(cfg, out=recorded["out"])
        text = cfg.to_json()
        if not self.config_path.is_file() or self.config_path.read_text() != text:
            _atomic_write_text(self.config_path, text)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def start_log(self, resume: bool) -> None:
        """A new ``log.csv`` with its header (kept when resuming)."""
        if resume and self.log_path.exists():
            return
        with open(self.log_path, "w", newline="") as fh:
            csv.writer(fh).writerow(LOG_FIELDS)

    def log_epoch(self, epoch: int, step: int, lr: float, means: dict[str, float], seconds: float) -> None:
        values = [f"{means[k]:.6f}" if k in means else "nan" for k in LOG_FIELDS[3:-1]]
        with open(self.log_path, "a", newline="") as fh:
            csv.writer(fh).writerow([epoch, step, lr, *values, f"{seconds:.1f}"])


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
