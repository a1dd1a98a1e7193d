"""The training loop: Adam, step learning-rate schedule, checkpoints every epoch, resume, DDP.

Run it with ``normfuse train`` or :func:`train`.  Under ``torchrun`` it trains
data-parallel (gloo on CPU, nccl on CUDA) with a distributed sampler.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..network import Features, NormFuseConfig, NormFuseNet
from ..weights import save_model_folder
from .data import CropPolicy, PairedImageFolder
from .losses import LossWeights, normfuse_loss

__all__ = ["TrainConfig", "train"]


@dataclass
class TrainConfig:
    """Every setting of a training run; written to ``<out>/train_config.json``.

    Defaults are the letter's recipe: Adam, lr 1e-3 divided by 10 every 40 of
    120 epochs, batch 24, one 128 x 128 centre crop per pair.
    """

    data: str = "../shared/data/roadscene"
    split: str | None = "../shared/data/roadscene/split.json"
    out: str = "runs/normfuse"
    epochs: int = 120
    batch_size: int = 24
    lr: float = 1e-3
    lr_step_epochs: int = 40
    lr_gamma: float = 0.1
    crop_size: int = 128
    crops_per_image: int = 1
    random_crop: bool = False
    flip: bool = False
    bf16: bool = False
    channels_last: bool = False
    seed: int = 0
    max_steps: int | None = None
    num_workers: int = 0
    device: str = "cpu"
    progress: bool = True
    model: dict[str, Any] = field(default_factory=lambda: NormFuseConfig().to_dict())
    loss: dict[str, Any] = field(default_factory=lambda: dataclasses.asdict(LossWeights()))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        data = json.loads(Path(path).read_text())
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown training settings in {str(path)!r}: {unknown}")
        return cls(**data)


class _TrainStep(nn.Module):
    """Encodes IR and visible crops in one batch and reconstructs both (what DDP wraps)."""

    def __init__(self, net: NormFuseNet):
        super().__init__()
        self.net = net

    def forward(self, ir: torch.Tensor, vis: torch.Tensor):
        b = ir.shape[0]
        feats = self.net.encode(torch.cat([ir, vis]))
        recon = self.net.decoder(feats)
        half = lambda t, s: t[s]  # noqa: E731
        fi = feats.map(lambda t: half(t, slice(0, b)))
        fv = feats.map(lambda t: half(t, slice(b, None)))
        return fi, fv, recon[:b], recon[b:]


def _dist_info() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train a model; return the ``<out>/final`` folder that ``NormFuser.from_pretrained`` loads.

    Writes ``<out>/train_config.json``, ``<out>/log.csv`` (one row per epoch),
    ``<out>/checkpoint.pt`` after every epoch, and ``<out>/final``.
    ``resume=True`` continues from ``checkpoint.pt``.
    """
    rank, world = _dist_info()
    device = torch.device(cfg.device)
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if not resume and ckpt_path.exists():
            raise FileExistsError(f"{str(ckpt_path)!r} exists: pass resume=True (--resume) or choose another --out")
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")

    torch.manual_seed(cfg.seed)
    net = NormFuseNet(NormFuseConfig.from_dict(cfg.model)).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    weights = LossWeights(**cfg.loss)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step_epochs, gamma=cfg.lr_gamma)
    start_epoch, step = 0, 0
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"cannot resume: {str(ckpt_path)!r} does not exist")
        ck = torch.load(ckpt_path, map_location=device, weights_only=True)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, step = int(ck["epoch"]), int(ck["step"])

    dataset = PairedImageFolder(
        cfg.data, cfg.split, "train",
        CropPolicy(cfg.crop_size, cfg.crops_per_image, cfg.random_crop, cfg.flip), seed=cfg.seed,
    )
    sampler = None
    step_module: nn.Module = _TrainStep(net)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
        step_module = DistributedDataParallel(step_module, device_ids=[device.index] if device.type == "cuda" else None)
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
        num_workers=cfg.num_workers, drop_last=False, generator=gen,
    )
    log_path = out / "log.csv"
    fields = ["epoch", "step", "lr", "total", "de", "rec_ir", "rec_vis", "grad", "seconds"]
    if rank == 0 and (not resume or not log_path.exists()):
        with open(log_path, "w", newline="") as fh:
            csv.writer(fh).writerow(fields)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    done = False
    for epoch in range(start_epoch, cfg.epochs):
        dataset.set_epoch(epoch)
        gen.manual_seed(cfg.seed * 100003 + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        t0 = time.time()
        lr = opt.param_groups[0]["lr"]
        sums: dict[str, float] = {}
        n = 0
        bar = None
        if cfg.progress and rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
        for ir, vis in loader:
            ir, vis = ir.to(device), vis.to(device)
            if cfg.channels_last:
                ir = ir.contiguous(memory_format=torch.channels_last)
                vis = vis.contiguous(memory_format=torch.channels_last)
            with autocast:
                fi, fv, ir_hat, vis_hat = step_module(ir, vis)
            loss, parts = normfuse_loss(ir, vis, fi, fv, ir_hat, vis_hat, weights)
            if not math.isfinite(parts["total"]):
                raise FloatingPointError(f"loss became {parts['total']} at epoch {epoch + 1}, step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            n += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if bar is not None:
                bar.set_postfix(loss=f"{parts['total']:.4f}")
                bar.update(1)
            if cfg.max_steps is not None and step >= cfg.max_steps:
                done = True
                break
        if bar is not None:
            bar.close()
        sched.step()
        if rank == 0:
            row = {k: sums[k] / max(n, 1) for k in sums}
            with open(log_path, "a", newline="") as fh:
                csv.writer(fh).writerow(
                    [epoch + 1, step, lr]
                    + [f"{row.get(k, float('nan')):.6f}" for k in fields[3:8]] + [f"{time.time() - t0:.1f}"]
                )
            ck = {"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                  "epoch": epoch + 1, "step": step}
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save(ck, tmp)
            os.replace(tmp, ckpt_path)
        if done:
            break

    final = out / "final"
    if world > 1:
        # BN running statistics are updated locally after DDP's last buffer broadcast: take rank 0's
        for buf in net.buffers():
            torch.distributed.broadcast(buf, src=0)
        # each rank leaves its weights so that replicas can be compared
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, out / f"rank{rank}.pt")
    if rank == 0:
        net.eval()
        save_model_folder(net, final, {"trained_steps": str(step)})
    if world > 1:
        torch.distributed.barrier()
    return final
