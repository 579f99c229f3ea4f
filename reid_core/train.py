"""Training PGFA: the recipe of the paper as a library (the CLI lives in ``app.commands.train``).

Recipe (all in :class:`TrainConfig`): loss ``lam * sum(part CE) + (1 - lam) * pose CE`` with
lam 0.2; SGD, momentum 0.9, Nesterov, weight decay 5e-4; lr 0.1 for the new layers and 0.01 for
the backbone, x0.1 at epoch 40 of 60; batch 32; random horizontal flip that also mirrors the
keypoints, and random erasing. Mixed precision on CUDA. A resumable training state is written
every ``checkpoint_every`` epochs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from reid_core.backbones import load_failure
from reid_core.model import PGFA, pgfa_loss
from reid_core.pose import coco17_to_openpose18, keypoint_heatmaps, part_visibility
from reid_core.transforms import hflip, load_rgb, random_erase, to_tensor

log = logging.getLogger(__name__)

STATE_FORMAT = "reidwatch-train-state/1"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults: the PGFA paper)."""

    epochs: int = 60
    batch_size: int = 32
    lr_new: float = 0.1
    lr_backbone: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    lr_milestones: tuple[int, ...] = (40,)
    lr_gamma: float = 0.1
    lam: float = 0.2
    image_hw: tuple[int, int] = (384, 128)
    gamma: float = 0.2
    flip_prob: float = 0.5
    erase_prob: float = 0.5
    amp: bool = True
    num_workers: int = 0
    checkpoint_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr_milestones", tuple(int(m) for m in self.lr_milestones))
        object.__setattr__(self, "image_hw", (int(self.image_hw[0]), int(self.image_hw[1])))
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"need epochs >= 1 and batch_size >= 2, got {self.epochs}, {self.batch_size}")
        if self.image_hw[0] % 16 or self.image_hw[1] % 16:
            raise ValueError(f"image_hw must be multiples of 16 (backbone stride), got {self.image_hw}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], got {self.lam}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")

    @property
    def feat_hw(self) -> tuple[int, int]:
        """The backbone's feature grid for ``image_hw`` (output stride 16)."""
        return self.image_hw[0] // 16, self.image_hw[1] // 16


class PoseCropDataset(Dataset):
    """Person crops with their COCO-17 keypoints, ready for PGFA.

    images: a sequence of image paths or RGB uint8 (H, W, 3) arrays; keypoints: (N, 17, 3)
    in the pixels of each original crop (confidence 0 = missing); labels, camids: (N,) ints.
    An item is ``(image (3, h, w), heatmaps (18, fh, fw), visibility (parts,) bool, label)``.
    With ``train=True`` the crop is flipped (with its keypoints) and randomly erased.
    Heatmaps use sigma = H * W / 1000 of the original crop, as in the paper.
    """

    def __init__(
        self,
        images: Sequence[str | Path | np.ndarray],
        keypoints: np.ndarray,
        labels: np.ndarray,
        *,
        camids: np.ndarray | None = None,
        image_hw: tuple[int, int] = (384, 128),
        parts: int = 3,
        gamma: float = 0.2,
        train: bool = False,
        flip_prob: float = 0.5,
        erase_prob: float = 0.5,
    ) -> None:
        n = len(images)
        kp = np.asarray(keypoints, dtype=np.float32)
        if kp.shape != (n, 17, 3):
            raise ValueError(f"keypoints: expected shape ({n}, 17, 3), got {kp.shape}")
        self.images = list(images)
        self.keypoints = kp
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.camids = np.zeros(n, np.int64) if camids is None else np.asarray(camids, dtype=np.int64).reshape(-1)
        if self.labels.shape != (n,) or self.camids.shape != (n,):
            raise ValueError(f"labels and camids: expected shape ({n},), got {self.labels.shape}, {self.camids.shape}")
        self.image_hw = (int(image_hw[0]), int(image_hw[1]))
        self.feat_hw = (self.image_hw[0] // 16, self.image_hw[1] // 16)
        self.parts, self.gamma = int(parts), float(gamma)
        self.train, self.flip_prob, self.erase_prob = bool(train), float(flip_prob), float(erase_prob)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        image = load_rgb(self.images[index])
        kp = self.keypoints[index]
        # torch's RNG: DataLoader workers get distinct seeds, numpy's global RNG would repeat.
        if self.train and float(torch.rand(())) < self.flip_prob:
            image, kp = hflip(image, kp)
        h, w = image.shape[:2]
        kp18 = coco17_to_openpose18(kp)
        heatmaps = keypoint_heatmaps(kp18, (h, w), self.feat_hw, self.gamma)
        visibility = part_visibility(kp18, h, self.parts, self.gamma)
        tensor = to_tensor(image, self.image_hw)
        if self.train:
            tensor = random_erase(tensor, prob=self.erase_prob)
        return tensor, torch.from_numpy(heatmaps), torch.from_numpy(visibility), int(self.labels[index])


@dataclass(frozen=True)
class Progress:
    """One training step, for progress callbacks."""

    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps: int
    loss: float
    lr: float  # learning rate of the new layers
    seconds: float  # since the start of the epoch


@dataclass(frozen=True)
class TrainResult:
    """What a run produced: per-epoch mean losses and the training-state files written."""

    epoch_losses: tuple[float, ...]
    checkpoints: tuple[Path, ...] = field(default_factory=tuple)


def make_optimizer(
    model: PGFA, config: TrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with the two learning rates of the recipe and its step schedule (stepped per epoch)."""
    groups = [
        {"params": list(model.new_parameters()), "lr": config.lr_new},
        {"params": list(model.backbone_parameters()), "lr": config.lr_backbone},
    ]
    optimizer = torch.optim.SGD(
        groups, lr=config.lr_new, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.lr_milestones), gamma=config.lr_gamma)
    return optimizer, scheduler


def save_state(
    path: Path,
    *,
    model: PGFA,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    epoch: int,
    config: TrainConfig,
    losses: Sequence[float],
) -> Path:
    """Write a resumable training state (model, optimizer, schedule, epochs done) with torch.save."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(
        {
            "format": STATE_FORMAT,
            "epoch": epoch,
            "model_config": model.config,
            "train_config": asdict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "losses": list(losses),
        },
        tmp,
    )
    tmp.replace(path)  # never leave a half-written state behind
    return path


def load_state(path: str | Path) -> dict:
    """Read a training state written by :func:`save_state`; ValueError if it is not one.

    Loaded with ``weights_only=True`` (no arbitrary pickles); MultiStepLR keeps its milestones
    in a ``Counter``, the one extra type allowed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training state not found: {path}")
    try:
        with torch.serialization.safe_globals([Counter]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise ValueError(f"cannot read {path}: {load_failure(exc)}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not a reidwatch training state ({STATE_FORMAT})")
    return state


def train(
    model: PGFA,
    dataset: PoseCropDataset,
    config: TrainConfig,
    *,
    device: str | torch.device = "cpu",
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataset`` (labels 0..num_classes-1) with ``config``, in place.

    ``out_dir`` receives ``state_epoch{NNN}.pt`` every ``config.checkpoint_every`` epochs and
    after the last one (nothing is written when it is None). ``resume`` continues from such a
    file: the model, optimizer, schedule and epoch count are restored. Seeds torch's global
    RNG with ``config.seed`` (flip and erasing draw from it).
    """
    if dataset.labels.max(initial=-1) >= model.num_classes or dataset.labels.min(initial=0) < 0:
        raise ValueError(f"labels must lie in 0..{model.num_classes - 1}")
    if len(dataset) < 2:
        raise ValueError("need at least 2 training images")
    device = torch.device(device)
    torch.manual_seed(config.seed)
    model.to(device)
    optimizer, scheduler = make_optimizer(model, config)
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    losses: list[float] = []
    start_epoch = 0
    if resume is not None:
        state = load_state(resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, losses = int(state["epoch"]), list(state["losses"])
        log.info("resumed from %s at epoch %d", resume, start_epoch)
    batch_size = min(config.batch_size, len(dataset))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,  # a last batch of one would break BatchNorm
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(config.seed + start_epoch),
    )
    written: list[Path] = []
    for epoch in range(start_epoch + 1, config.epochs + 1):
        model.train()
        t0, total, count = time.perf_counter(), 0.0, 0
        for step, (images, heatmaps, _vis, labels) in enumerate(loader, start=1):
            images, heatmaps = images.to(device, non_blocking=True), heatmaps.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=use_amp):
                loss = pgfa_loss(model(images, heatmaps), labels, lam=config.lam)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}, step {step}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            value = loss.detach().item()
            total, count = total + value * len(labels), count + len(labels)
            if progress is not None:
                lr = optimizer.param_groups[0]["lr"]
                progress(Progress(epoch, step, len(loader), value, lr, time.perf_counter() - t0))
        scheduler.step()
        losses.append(total / max(count, 1))
        log.info("epoch %d/%d: loss %.4f (%.1f s)", epoch, config.epochs, losses[-1], time.perf_counter() - t0)
        due = config.checkpoint_every and epoch % config.checkpoint_every == 0
        if out_dir is not None and (due or epoch == config.epochs):
            path = Path(out_dir) / f"state_epoch{epoch:03d}.pt"
            written.append(
                save_state(path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, epoch=epoch,
                           config=config, losses=losses)  # fmt: skip
            )
    return TrainResult(epoch_losses=tuple(losses), checkpoints=tuple(written))


@dataclass(frozen=True)
class Features:
    """Test features of a set of crops: global (N, Dg), parts (N, P, Dp), visibility (N, P) bool."""

    global_feat: torch.Tensor
    parts: torch.Tensor
    visibility: torch.Tensor


def extract_features(
    model: PGFA,
    dataset: PoseCropDataset,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    feature_mode: str | None = None,
) -> Features:
    """Eval-mode PGFA features of every item of ``dataset`` (no augmentation), on the CPU."""
    if dataset.train:
        raise ValueError("extract_features needs a dataset built with train=False")
    device = torch.device(device)
    model.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    glob, parts, vis = [], [], []
    with torch.no_grad(), torch.autocast(device.type, enabled=device.type == "cuda"):
        for images, heatmaps, visibility, _ in loader:
            out = model(images.to(device), heatmaps.to(device), feature_mode=feature_mode)
            glob.append(out.global_feat.float().cpu())
            parts.append(out.parts.float().cpu())
            vis.append(visibility)
    return Features(torch.cat(glob), torch.cat(parts), torch.cat(vis))
