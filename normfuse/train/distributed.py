"""Data-parallel training under ``torchrun``: process group, rank, and the model wrapper.

Outside ``torchrun`` (no ``WORLD_SIZE`` > 1 in the environment) everything
here is a no-op on one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from ..devices import resolve_device

__all__ = ["Distributed", "setup_distributed"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: ``rank`` of ``world`` processes, on ``device``."""

    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` itself on one process, else wrapped in DistributedDataParallel."""
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def sync_buffers(self, module: nn.Module) -> None:
        """Give every process rank 0's buffers (normalisation statistics are updated locally)."""
        if self.world > 1:
            for buf in module.buffers():
                torch.distributed.broadcast(buf, src=0)

    def check_replicas(self, module: nn.Module) -> None:
        """Raise if the processes' parameters differ (they must stay identical under DDP)."""
        if self.world == 1:
            return
        flat = torch.cat([p.detach().float().flatten() for p in module.parameters()])
        low, high = flat.clone(), flat.clone()
        torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
        torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise RuntimeError(f"the {self.world} processes ended with different weights")

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def setup_distributed(device: str) -> Distributed:
    """Join the ``torchrun`` process group if there is one (gloo on CPU, nccl on CUDA)."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    dev = resolve_device(device)  # a one-line error for CUDA without CUDA
    if world > 1:
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return Distributed(rank, world, dev)
