"""The training loop: model, optimiser per stage, epochs, checkpoints every epoch, resume, DDP.

Run it with ``normfuse train`` or :func:`train`; the settings are a
:class:`~normfuse.train.config.TrainConfig`.  Under ``torchrun`` it trains
data-parallel (gloo on CPU, nccl on CUDA) with a distributed sampler.

Examples:
    >>> from normfuse.train import TrainConfig, train
    >>> cfg = TrainConfig(data=["my_pairs/"], out="runs/mine")     # doctest: +SKIP
    >>> final = train(cfg)                                          # doctest: +SKIP
    >>> final = train(TrainConfig.from_json("runs/mine/train_config.json"), resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..devices import warn_if_bf16_emulated
from ..layers import Norm2d
from ..network import NormFuseConfig, NormFuseNet
from ..weights import load_model_folder, resolve_pretrained, save_model_folder
from .checkpoint import RunFolder
from .config import TrainConfig
from .data import CropPolicy, Photometric, training_set
from .distributed import Distributed, setup_distributed
from .losses import FusionLossWeights, LossWeights
from .step import StepWeights, TrainStep, fuse_batch

__all__ = ["TrainConfig", "train"]

log = logging.getLogger(__name__)


def build_model(cfg: TrainConfig) -> tuple[NormFuseNet, NormFuseNet | None]:
    """The network to train (random, or ``cfg.init``'s weights) and the distillation teacher, if any.

    An ``init`` model's ``config.json`` replaces ``cfg.model``; ``cfg.fusion``
    (if set) replaces the fusion rule; ``bf16_tolerant`` and
    ``openvino_bf16_tolerant`` are reset (new weights have not been checked).
    """
    model_cfg = dict(cfg.model)
    start = None
    if cfg.init is not None:
        start = load_model_folder(resolve_pretrained(None if cfg.init == "bundled" else cfg.init))
        model_cfg = start.config.to_dict()
        model_cfg["bf16_tolerant"] = model_cfg["openvino_bf16_tolerant"] = False
    if cfg.fusion is not None:
        model_cfg["fusion"] = dict(cfg.fusion)
    net = NormFuseNet(NormFuseConfig.from_dict(model_cfg))
    if start is None:
        return net, None
    net.load_state_dict(start.state_dict())
    teacher = start.eval().requires_grad_(False) if cfg.distill else None
    return net, teacher


def _stage(cfg: TrainConfig, epoch: int) -> int:
    """1 for the letter's epochs, 2 for the fusion stage's (``epoch`` counts from 0)."""
    return 1 if epoch < cfg.epochs else 2


def _encoder_frozen(cfg: TrainConfig, stage: int) -> bool:
    """Whether this stage trains the decoder only (the fusion stage with ``freeze_encoder``)."""
    return stage == 2 and cfg.freeze_encoder


def _optimizer(cfg: TrainConfig, net: NormFuseNet, stage: int):
    if stage == 1:
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step_epochs, gamma=cfg.lr_gamma)
    params = net.decoder.parameters() if _encoder_frozen(cfg, stage) else net.parameters()
    opt = torch.optim.Adam(params, lr=cfg.fusion_lr)
    return opt, torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


def _step_weights(cfg: TrainConfig, stage: int) -> StepWeights:
    return StepWeights(
        letter=LossWeights(**cfg.loss),
        reconstruction=1.0 if stage == 1 else cfg.reconstruction,
        fusion=FusionLossWeights(**cfg.fusion_loss) if stage == 2 else None,
        bf16_consistency=cfg.bf16_consistency,
        bf16_error_scale=cfg.bf16_error_scale,
        bf16_path=cfg.bf16_path,  # type: ignore[arg-type]  # checked by TrainConfig
        distill=cfg.distill,
        distill_floor=cfg.distill_floor,
    )


def _load_weights(net: NormFuseNet, state: dict[str, Any], run: RunFolder) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1].strip()
        raise ValueError(
            f"the checkpoint in {str(run.path)!r} does not fit the model of these settings (model {net.config.to_dict()}): "
            f"{first}. Resume with the run's own settings: normfuse train --out {run.path} --resume"
        ) from None


def _check_stages(cfg: TrainConfig, state: dict[str, Any], run: RunFolder) -> None:
    """Refuse a resume whose epoch counts do not extend what the checkpoint has trained, stage by stage.

    The checkpoint says how many of its epochs were the letter's (stage 1); one
    written before it said so is read with the run's recorded ``epochs``.
    """
    epoch = int(state["epoch"])
    letter = state.get("letter_epochs")
    if letter is None:
        letter = min(epoch, int((run.recorded_config() or {}).get("epochs", cfg.epochs)))
    letter, fusion = int(letter), epoch - int(letter)
    done = f"{str(run.path)!r} has trained {letter} letter-stage and {fusion} fusion-stage epochs"
    if cfg.epochs < letter or cfg.fusion_epochs < fusion:
        raise ValueError(f"cannot resume: {done}, more than --epochs {cfg.epochs} --fusion-epochs {cfg.fusion_epochs}")
    if fusion > 0 and cfg.epochs > letter:
        raise ValueError(
            f"cannot resume: {done}; --epochs {cfg.epochs} would add letter-stage epochs after the fusion stage "
            f"began. Train the fusion stage longer with --fusion-epochs N (N > {fusion}), or start a new run from "
            f"this one: --init {run.final} --epochs 0"
        )


class _Trainer:
    """The state of a run between epochs: network, optimiser of the current stage, step count."""

    def __init__(self, cfg: TrainConfig, net: NormFuseNet, teacher: NormFuseNet | None, dist: Distributed,
                 run: RunFolder):
        self.cfg, self.net, self.teacher, self.dist, self.run = cfg, net, teacher, dist, run
        self.epoch, self.step = 0, 0
        self.stage = 0
        self.opt: torch.optim.Optimizer
        self.sched: Any
        self.step_module: torch.nn.Module

    def enter_stage(self, stage: int, state: dict[str, Any] | None = None) -> None:
        self.stage = stage
        # a frozen encoder's parameters need no gradient, so autograd records nothing through it
        self.net.encoder.requires_grad_(not _encoder_frozen(self.cfg, stage))
        self.opt, self.sched = _optimizer(self.cfg, self.net, stage)
        if state is not None:
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
        self.step_module = self.dist.wrap(TrainStep(self.net, _step_weights(self.cfg, stage)))

    def resume_from(self, state: dict[str, Any]) -> None:
        _check_stages(self.cfg, state, self.run)
        _load_weights(self.net, state["model"], self.run)
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        done_stage = _stage(self.cfg, self.epoch - 1) if self.epoch > 0 else 0
        next_stage = _stage(self.cfg, self.epoch)
        self.enter_stage(next_stage, state if done_stage == next_stage else None)

    def _train_mode(self) -> None:
        self.net.train()
        if _encoder_frozen(self.cfg, self.stage):
            self.net.encoder.eval()
        if self.cfg.freeze_norm_stats:
            for m in self.net.modules():
                if isinstance(m, Norm2d):
                    m.eval()

    def run_epoch(self, loader: DataLoader, bar_factory) -> bool:
        """Train one epoch; return True when ``max_steps`` was reached."""
        cfg, device = self.cfg, self.dist.device
        self._train_mode()
        t0, lr = time.time(), self.opt.param_groups[0]["lr"]
        sums: dict[str, float] = {}
        n, stop = 0, False
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
        bar = bar_factory(len(loader), f"epoch {self.epoch + 1}/{cfg.total_epochs} (stage {self.stage})")
        for ir, vis in loader:
            ir, vis = self._to_device(ir), self._to_device(vis)
            target = None
            if self.teacher is not None:
                with torch.no_grad():
                    target = fuse_batch(self.teacher, ir, vis)
            with autocast:
                loss, parts = self.step_module(ir, vis, target)
            parts["total"] = loss.item()
            if not math.isfinite(parts["total"]):
                raise FloatingPointError(f"loss became {parts['total']} at epoch {self.epoch + 1}, step {self.step}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            n += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if bar is not None:
                bar.set_postfix(loss=f"{parts['total']:.4f}")
                bar.update(1)
            if cfg.max_steps is not None and self.step >= cfg.max_steps:
                stop = True
                break
        if bar is not None:
            bar.close()
        self.sched.step()
        self.epoch += 1
        if self.dist.is_main:
            self.run.log_epoch(self.epoch, self.step, lr, {k: v / max(n, 1) for k, v in sums.items()}, time.time() - t0)
            self.run.save_checkpoint({"model": self.net.state_dict(), "optimizer": self.opt.state_dict(),
                                      "scheduler": self.sched.state_dict(), "epoch": self.epoch, "step": self.step,
                                      "letter_epochs": min(self.epoch, cfg.epochs)})
        log.info("epoch %d/%d done (step %d, loss %.4f)", self.epoch, cfg.total_epochs, self.step,
                 sums.get("total", float("nan")) / max(n, 1))
        return stop

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dist.device)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x


def _loader(cfg: TrainConfig, dataset, dist: Distributed, stage: int) -> tuple[DataLoader, Any, torch.Generator]:
    sampler: Any = None
    if dist.world > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    batch_size = cfg.batch_size if stage == 1 else cfg.fusion_batch_size
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=cfg.num_workers, drop_last=False, generator=gen)
    return loader, sampler, gen


def _bar_factory(cfg: TrainConfig, dist: Distributed):
    def make(total: int, desc: str):
        if not (cfg.progress and dist.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, leave=False)

    return make


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train a model; return the ``<out>/final`` folder that ``NormFuser.from_pretrained`` loads.

    Writes ``<out>/train_config.json``, ``<out>/log.csv`` (one row per epoch),
    ``<out>/checkpoint.pt`` after every epoch, and ``<out>/final``.
    ``resume=True`` continues from ``checkpoint.pt``.  Everything is checked
    (data, checkpoint, model) before the run folder is changed.

    Raises:
        FileExistsError: a new run over an existing checkpoint.
        normfuse.train.checkpoint.RunLockedError: another training is running on ``<out>``.
        FileNotFoundError: resuming without a checkpoint, or a missing data folder.
        ValueError: settings that do not fit together or do not fit the checkpoint (for a
            resume: epoch counts that do not extend the stage the checkpoint is in).
    """
    dist = setup_distributed(cfg.device)
    run = RunFolder(Path(cfg.out))
    with run.lock(resume) if dist.is_main else nullcontext():  # one training per run folder at a time
        return _train(cfg, resume, dist, run)


def _train(cfg: TrainConfig, resume: bool, dist: Distributed, run: RunFolder) -> Path:
    if cfg.bf16:
        warn_if_bf16_emulated(dist.device, what="bf16 training (--bf16)")
    torch.manual_seed(cfg.seed)
    net, teacher = build_model(cfg)
    net, teacher = net.to(dist.device), teacher.to(dist.device) if teacher is not None else None
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    cfg = dataclasses.replace(cfg, model=net.config.to_dict())  # what is trained, for train_config.json
    trainer = _Trainer(cfg, net, teacher, dist, run)
    if resume:
        trainer.resume_from(run.load_checkpoint(dist.device))
    else:
        run.check_new()
        trainer.enter_stage(_stage(cfg, 0))
    photometric = Photometric(**cfg.photometric)
    dataset = training_set(cfg.data, cfg.splits(),
                           CropPolicy(cfg.crop_size, cfg.crops_per_image, cfg.random_crop, cfg.flip), cfg.seed)
    if dist.is_main:
        run.write_config(cfg, resume)
        run.start_log(resume)
    bars = _bar_factory(cfg, dist)
    while trainer.epoch < cfg.total_epochs:
        stage = _stage(cfg, trainer.epoch)
        if stage != trainer.stage:
            trainer.enter_stage(stage)
        loader, sampler, gen = _loader(cfg, dataset, dist, stage)
        dataset.set_photometric(photometric if stage == 2 else None)
        dataset.set_epoch(trainer.epoch)
        gen.manual_seed(cfg.seed * 100003 + trainer.epoch)
        if sampler is not None:
            sampler.set_epoch(trainer.epoch)
        if trainer.run_epoch(loader, bars):
            break
    dist.sync_buffers(net)
    dist.check_replicas(net)
    if dist.is_main:
        net.eval()
        save_model_folder(net, run.final, {"trained_steps": str(trainer.step)})
    dist.barrier()
    return run.final
