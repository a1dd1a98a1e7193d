"""The training loop: Adam, step learning-rate schedule, checkpoints every epoch, resume, DDP.

Run it with ``normfuse train`` or :func:`train`.  Under ``torchrun`` it trains
data-parallel (gloo on CPU, nccl on CUDA) with a distributed sampler.

Besides training from scratch with the letter's loss, it fine-tunes
(``init``): with frozen normalisation statistics, a ``bf16_consistency`` term
(:mod:`normfuse.train.precision`) that makes the fused image the same in
bfloat16 as in float32, and a ``distill`` term that keeps the fused image close
to the starting model's.
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

from ..layers import Norm2d
from ..network import Features, NormFuseConfig, NormFuseNet, fuse_features
from ..weights import load_model_folder, resolve_pretrained, save_model_folder
from .data import CropPolicy, PairedImageFolder
from .losses import LossWeights, normfuse_loss
from .precision import bf16_gap_loss, simulated_bf16

__all__ = ["TrainConfig", "train"]


@dataclass
class TrainConfig:
    """Every setting of a training run; written to ``<out>/train_config.json``.

    Defaults are the letter's recipe: Adam, lr 1e-3 divided by 10 every 40 of
    120 epochs, batch 24, one 128 x 128 centre crop per pair.

    Fine-tuning settings (all off by default):

    - ``init``: start from a model folder (``"bundled"``: the package's
      weights); its ``config.json`` replaces ``model``, except that ``fusion``
      (if set) replaces its fusion rule and ``bf16_tolerant`` is reset to
      false (the new weights have not been checked).
    - ``freeze_norm_stats``: normalisations use and keep their running statistics.
    - ``bf16_consistency``: weight of :func:`~normfuse.train.precision.bf16_gap_loss`
      between the fused image in float32 and under
      :func:`~normfuse.train.precision.simulated_bf16` (needs ``bf16=False``).
    - ``bf16_error_scale``: how many times bfloat16's rounding error that
      simulation applies (``1``: exactly; more leaves a margin).
    - ``distill``: weight of the mean absolute difference between the fused
      image and the ``init`` model's fused image (needs ``init``).
    - ``fusion``: the :class:`~normfuse.network.FusionRule` fields of the
      trained model (its ``config.json``), used by those two terms (default:
      the ``model``'s or ``init``'s rule).
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
    init: str | None = None
    freeze_norm_stats: bool = False
    bf16_consistency: float = 0.0
    bf16_error_scale: float = 1.0
    distill: float = 0.0
    fusion: dict[str, str] | None = None

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        data = json.loads(Path(path).read_text())
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown training settings in {str(path)!r}: {unknown}")
        return cls(**data)


def _split(feats: Features, b: int) -> tuple[Features, Features]:
    return feats.map(lambda t: t[:b]), feats.map(lambda t: t[b:])


class _TrainStep(nn.Module):
    """Encodes IR and visible crops in one batch and reconstructs both (what DDP wraps).

    With ``bf16_consistency`` or a ``teacher`` it also fuses the pair with the
    model's fusion rule and returns the extra loss terms (unweighted) in a dict.
    """

    def __init__(self, net: NormFuseNet, bf16_consistency: bool = False, teacher: NormFuseNet | None = None,
                 bf16_error_scale: float = 1.0):
        super().__init__()
        self.net = net
        self.rule = net.config.fusion
        self.bf16_consistency = bf16_consistency
        self.bf16_error_scale = bf16_error_scale
        self.teacher = [teacher]  # a list: not a submodule (no parameters for DDP or the state dict)

    def _fuse(self, net: NormFuseNet, both: torch.Tensor, b: int) -> torch.Tensor:
        return net.decoder(fuse_features(*_split(net.encode(both), b), self.rule))

    def forward(self, ir: torch.Tensor, vis: torch.Tensor):
        b = ir.shape[0]
        both = torch.cat([ir, vis])
        feats = self.net.encode(both)
        recon = self.net.decoder(feats)
        fi, fv = _split(feats, b)
        extra: dict[str, torch.Tensor] = {}
        teacher = self.teacher[0]
        if self.bf16_consistency or teacher is not None:
            fused = self.net.decoder(fuse_features(fi, fv, self.rule))
            if self.bf16_consistency:
                with simulated_bf16(self.net, self.bf16_error_scale):
                    extra["bf16_gap"] = bf16_gap_loss(fused, self._fuse(self.net, both, b))
            if teacher is not None:
                with torch.no_grad():
                    target = self._fuse(teacher, both, b)
                extra["distill"] = (fused.float() - target.float()).abs().mean()
        return fi, fv, recon[:b], recon[b:], extra


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
    if cfg.bf16_consistency and cfg.bf16:
        raise ValueError("bf16_consistency compares with exact float32 output: it needs bf16=False")
    if not cfg.bf16_error_scale > 0:
        raise ValueError(f"bf16_error_scale must be positive, got {cfg.bf16_error_scale}")
    if cfg.distill and cfg.init is None:
        raise ValueError("distill keeps the fused image close to the init model's: set init")
    torch.manual_seed(cfg.seed)
    teacher = None
    start = None
    model_cfg = dict(cfg.model)
    if cfg.init is not None:
        start = load_model_folder(resolve_pretrained(None if cfg.init == "bundled" else cfg.init))
        model_cfg = start.config.to_dict()
        model_cfg["bf16_tolerant"] = False  # new weights: to be checked again (benchmarks/bench_precision.py)
    if cfg.fusion is not None:
        model_cfg["fusion"] = dict(cfg.fusion)
    net = NormFuseNet(NormFuseConfig.from_dict(model_cfg))
    if start is not None:
        net.load_state_dict(start.state_dict())
        if cfg.distill:
            teacher = start.to(device).eval().requires_grad_(False)
    net = net.to(device)
    cfg = dataclasses.replace(cfg, model=net.config.to_dict())  # what is trained, for train_config.json
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if not resume and ckpt_path.exists():
            raise FileExistsError(f"{str(ckpt_path)!r} exists: pass resume=True (--resume) or choose another --out")
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")

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
    step_module: nn.Module = _TrainStep(net, cfg.bf16_consistency > 0, teacher, cfg.bf16_error_scale)
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
    fields = ["epoch", "step", "lr", "total", "de", "rec_ir", "rec_vis", "grad", "bf16_gap", "distill", "seconds"]
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
        if cfg.freeze_norm_stats:
            for m in net.modules():
                if isinstance(m, Norm2d):
                    m.eval()
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
                fi, fv, ir_hat, vis_hat, extra = step_module(ir, vis)
            loss, parts = normfuse_loss(ir, vis, fi, fv, ir_hat, vis_hat, weights)
            for name, term in extra.items():
                loss = loss + (cfg.bf16_consistency if name == "bf16_gap" else cfg.distill) * term
                parts[name] = term.item()
            parts["total"] = loss.item()
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
                    + [f"{row.get(k, float('nan')):.6f}" for k in fields[3:-1]] + [f"{time.time() - t0:.1f}"]
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
