"""The run folder: its settings file, the per-epoch checkpoint and the epoch log.

A run folder ``<out>`` holds ``train_config.json`` (the settings),
``checkpoint.pt`` (weights, optimiser, scheduler, epoch and step, written
atomically after every epoch), ``log.csv`` (one row per epoch) and, at the end,
``final/`` (the model folder).  Nothing in it is changed until a new run or a
resume has been checked: a failed resume leaves the folder as it was.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import CONFIG_FILE, TrainConfig

__all__ = ["RunFolder", "LOG_FIELDS"]

#: Columns of ``log.csv``.
LOG_FIELDS = ("epoch", "step", "lr", "total", "de", "rec_ir", "rec_vis", "grad", "int", "fgrad", "fssim", "fdark", "fcontrast", "fhighlight",
              "bf16_gap", "distill", "seconds")


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

    def write_config(self, cfg: TrainConfig) -> None:
        """Write the settings, leaving the file untouched when it already says the same."""
        self.path.mkdir(parents=True, exist_ok=True)
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
