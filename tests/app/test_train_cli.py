"""`reidwatch train` and `reidwatch eval-reid` end to end on a small Market-1501 tree of real crops.

The crops are people cut out of vtest.avi with the ground-truth boxes and saved under Market's
file names (id, camera, frame); the real YOLO pose detector computes their keypoints.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from app.cli import main
from app.training.keypoints import CACHE_NAME, load_cache
from reid_core.datasets import load_dataset
from reid_core.train import load_state
from reid_core.weights import load_checkpoint

TRAIN_IDS, TEST_IDS = 4, 2


def _read_gt(path: Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    rows = np.loadtxt(path, delimiter=",")
    by_id: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for row in rows:
        by_id[int(row[1])].append((int(row[0]) - 1, row[2:6]))  # video index = frame - 1
    return by_id


def _crop(frame: np.ndarray, ltwh: np.ndarray) -> np.ndarray:
    left, top, w, h = ltwh
    x1, y1 = max(int(left - 0.1 * w), 0), max(int(top - 0.05 * h), 0)
    x2, y2 = min(int(left + 1.1 * w), frame.shape[1]), min(int(top + 1.05 * h), frame.shape[0])
    return cv2.resize(frame[y1:y2, x1:x2], (64, 128), interpolation=cv2.INTER_LINEAR)  # Market's crop size


@pytest.fixture(scope="module")
def market_root(tmp_path_factory: pytest.TempPathFactory, vtest_path: Path, gt_dev_path: Path) -> Path:
    """Market-1501-v15.09.15 with 4 train ids x 4 crops, 2 query and 4 gallery crops of 2 other ids, 1 distractor.

    One real camera stands in for two: the first half of each person's track is camera 1, the second camera 2.
    """
    by_id = _read_gt(gt_dev_path)
    ids = sorted(by_id, key=lambda i: -len(by_id[i]))[: TRAIN_IDS + TEST_IDS]
    wanted: dict[int, list[tuple[str, int, np.ndarray]]] = defaultdict(list)  # frame -> (file, id, box)
    for rank, pid in enumerate(ids):
        track = sorted(by_id[pid], key=lambda t: t[0])
        half = len(track) // 2
        early, late = track[:half][::15], track[half:][::15]
        if rank < TRAIN_IDS:
            picks = [("bounding_box_train", 1, t) for t in early[:2]] + [("bounding_box_train", 2, t) for t in late[:2]]
        else:
            picks = [("query", 1, early[0])] + [("bounding_box_test", 2, t) for t in late[:2]]
        for folder, cam, (frame, box) in picks:
            wanted[frame].append((f"{folder}/{pid:04d}_c{cam}s1_{frame:06d}_00.jpg", pid, box))
    distractor_frame, distractor_box = by_id[ids[0]][0]
    wanted[distractor_frame].append((f"bounding_box_test/0000_c2s1_{distractor_frame:06d}_00.jpg", 0,
                                     distractor_box + np.array([0, 0, 0, -30])))  # a badly cut box

    root = tmp_path_factory.mktemp("reid") / "Market-1501-v15.09.15"
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        (root / folder).mkdir(parents=True)
    cap = cv2.VideoCapture(str(vtest_path))
    for frame_index in sorted(wanted):
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
        ok, frame = cap.read()
        assert ok, f"cannot read frame {frame_index} of {vtest_path}"
        for name, _, box in wanted[frame_index]:
            cv2.imwrite(str(root / name), _crop(frame, box))
    cap.release()
    return root


def test_train_resume_and_evaluate(market_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    common = ["--dataset", "market1501", "--root", str(market_root.parent), "--device", "cpu"]
    rc = main(["train", *common, "--epochs", "1", "--batch-size", "8", "--backbone", "mobilenetv2",
               "--out", str(out), "--workers", "0", "--checkpoint-every", "1", "--no-progress"])
    assert rc == 0
    weights = out / "pgfa_market1501_mobilenetv2.safetensors"
    assert "weights: " + str(weights) in capsys.readouterr().out

    # The keypoints cache holds one entry per training image, found by the real detector.
    cache = load_cache(market_root / CACHE_NAME)
    assert sorted(cache) == sorted(f"bounding_box_train/{p.name}" for p in (market_root / "bounding_box_train").iterdir())
    found = sum(bool((kp[:, 2] > 0.5).sum() >= 5) for kp in cache.values())
    assert found >= 12, f"pose found on only {found} of 16 real crops"
    confident = np.concatenate([kp[kp[:, 2] > 0.5, :2] for kp in cache.values()])
    assert (confident > -8).all() and (confident[:, 0] < 72).all() and (confident[:, 1] < 136).all()  # crop pixels

    ckpt = load_checkpoint(weights)
    assert ckpt.config["backbone"] == "mobilenetv2" and ckpt.config["num_classes"] == TRAIN_IDS
    assert ckpt.extra["dataset"] == "market1501" and len(ckpt.extra["losses"]) == 1
    state1 = load_state(out / "state_epoch001.pt")
    assert state1["epoch"] == 1

    # Resume for a second epoch: the state continues (losses carried over) and the weights change.
    rc = main(["train", *common, "--epochs", "2", "--batch-size", "8", "--out", str(out), "--workers", "0",
               "--resume", str(out / "state_epoch001.pt"), "--no-progress"])
    assert rc == 0
    state2 = load_state(out / "state_epoch002.pt")
    assert state2["epoch"] == 2 and state2["losses"][0] == state1["losses"][0] and len(state2["losses"]) == 2
    key = "pose_head.0.weight"
    assert not torch.equal(state1["model"][key], state2["model"][key])
    assert state2["optimizer"]["state"]  # momentum buffers restored and carried on
    capsys.readouterr()

    report = tmp_path / "scores.json"
    rc = main(["eval-reid", *common, "--weights", str(weights), "--json", str(report)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "rank-1" in printed and "mAP" in printed
    scores = json.loads(report.read_text())
    assert scores["queries"] == TEST_IDS and scores["gallery"] == 2 * TEST_IDS + 1
    assert 0.0 < scores["mAP"] <= 1.0 and 0.0 <= scores["rank1"] <= scores["rank5"] <= scores["rank10"] <= 1.0
    assert scores["weights"] == str(weights)
    # eval-reid added the query and gallery images to the same cache.
    dataset = load_dataset("market1501", market_root)
    assert len(load_cache(market_root / CACHE_NAME)) == len(dataset.train + dataset.query + dataset.gallery)

    rc = main(["eval-reid", *common, "--distance", "global", "--backbone", "mobilenetv2"])  # ImageNet features
    assert rc == 0 and "global distance" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--dataset", "viper", "--root", "."], "unknown dataset 'viper'; valid names: dukemtmc, market1501"),
        (["eval-reid", "--dataset", "market1501", "--root", "{tmp}"], "expected folder 'bounding_box_train'"),
        (["train", "--dataset", "partial_reid", "--root", "{partial}"], "test-only dataset"),
        (["eval-reid", "--dataset", "market1501", "--root", "{market}", "--weights", "{tmp}/none.safetensors"],
         "PGFA checkpoint not found"),
        (["train", "--dataset", "market1501", "--root", "{market}", "--resume", "{tmp}/none.pt"], "cannot resume"),
        (["train", "--dataset", "market1501", "--root", "{market}", "--resume", "{tmp}/junk.pt"], "cannot resume"),
    ],
)
def test_user_errors_are_one_line(argv: list[str], needle: str, tmp_path: Path, market_root: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    partial = tmp_path / "Partial-REID_Dataset"
    for folder in ("partial_body_images", "whole_body_images"):
        (partial / folder).mkdir(parents=True)
        cv2.imwrite(str(partial / folder / "001_01.jpg"), np.zeros((16, 8, 3), np.uint8))
    (tmp_path / "junk.pt").write_bytes(b"not a training state")
    subs = {"{tmp}": str(tmp_path), "{partial}": str(tmp_path), "{market}": str(market_root)}
    for old, new in subs.items():
        argv = [a.replace(old, new) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("reidwatch: error:")]
    assert len(errors) == 1 and needle in errors[0], err
    assert "Traceback" not in err
