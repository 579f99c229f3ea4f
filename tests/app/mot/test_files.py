"""MOTChallenge I/O, TrackEval scoring and the eval-mot command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.errors import UserError
from app.mot.files import (
    MotFormatError,
    MotTable,
    evaluate_mot,
    evaluate_tables,
    parse_frame_range,
    read_mot,
    table_from_tracks,
    write_mot,
)
from trackers.types import NUM_KEYPOINTS, Tracks


def test_write_read_round_trip(tmp_path: Path) -> None:
    table = MotTable(
        frames=[2, 1, 1],
        ids=[5, 7, 5],
        boxes=[[10.5, 20.25, 30.0, 60.0], [0.0, 1.0, 2.0, 3.0], [11.0, 21.0, 30.0, 61.0]],
        scores=[0.5, 0.9, 0.75],
    )
    path = tmp_path / "result.txt"
    write_mot(path, table)
    lines = path.read_text().splitlines()
    assert lines[0] == "1,5,11.00,21.00,30.00,61.00,0.7500,-1,-1,-1"  # sorted by frame, then id
    back = read_mot(path)
    order = np.lexsort((table.ids, table.frames))
    np.testing.assert_array_equal(back.frames, table.frames[order])
    np.testing.assert_array_equal(back.ids, table.ids[order])
    np.testing.assert_allclose(back.boxes, table.boxes[order], atol=0.005)
    np.testing.assert_allclose(back.scores, table.scores[order])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3,4,5\n", "at least 6"),
        ("1,2,3,4,5,6,1\n1,a,3,4,5,6,1\n", ":2: not a number"),
        ("0,2,3,4,5,6,1\n", "frame must be an integer >= 1"),
        ("1,2,3,4,-5,6,1\n", "negative box"),
    ],
)
def test_malformed_files_raise_with_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(MotFormatError, match=message):
        read_mot(path)


def test_table_from_tracks_converts_to_ltwh() -> None:
    t = Tracks(
        ids=[4],
        boxes=[[10, 20, 50, 120]],
        scores=[0.8],
        keypoints=np.zeros((1, NUM_KEYPOINTS, 3)),
        det_index=[0],
    )
    table = table_from_tracks([3, 4], [t, Tracks.empty()])
    assert table.frames.tolist() == [3] and table.ids.tolist() == [4]
    np.testing.assert_allclose(table.boxes, [[10, 20, 40, 100]])


def test_ground_truth_scored_against_itself_is_perfect(gt_dev_path: Path) -> None:
    scores = evaluate_mot(gt_dev_path, gt_dev_path, (1, 400))
    assert scores.mota == pytest.approx(1.0)
    assert scores.idf1 == pytest.approx(1.0)
    assert scores.hota == pytest.approx(1.0)
    assert scores.id_switches == 0 and scores.false_positives == 0 and scores.false_negatives == 0
    assert scores.num_gt_ids == 10 and scores.num_frames == 400


def test_a_swapped_id_scores_lower(gt_dev_path: Path) -> None:
    gt = read_mot(gt_dev_path)
    ids = gt.ids.copy()
    late = gt.frames > 200
    ids[late & (gt.ids == 9)] = 15
    ids[late & (gt.ids == 15)] = 9
    swapped = MotTable(frames=gt.frames, ids=ids, boxes=gt.boxes, scores=gt.scores)
    scores = evaluate_tables(swapped, gt)
    assert scores.idf1 < 0.95
    assert scores.id_switches == 2
    assert scores.mota < 1.0
    assert scores.false_positives == 0


def test_ignored_annotations_are_forgiven_unless_strict(gt_dev_path: Path) -> None:
    gt = read_mot(gt_dev_path)
    n_ignored = int((gt.scores == 0).sum())
    assert n_ignored > 0
    strict = evaluate_tables(gt, gt, forgive_ignored=False)
    assert strict.false_positives == n_ignored
    assert evaluate_tables(gt, gt).false_positives == 0


def test_frame_range_restricts_both_sides(gt_dev_path: Path) -> None:
    gt = read_mot(gt_dev_path)
    first_half_only = gt.in_frames(1, 200)
    assert evaluate_tables(first_half_only, gt, (1, 200)).mota == pytest.approx(1.0)
    assert evaluate_tables(first_half_only, gt, (1, 400)).false_negatives > 0
    assert parse_frame_range("401-795") == (401, 795)
    with pytest.raises(UserError):
        parse_frame_range("400")


def test_duplicate_id_in_a_frame_is_a_user_error() -> None:
    table = MotTable(frames=[1, 1], ids=[3, 3], boxes=np.ones((2, 4)), scores=[1, 1])
    with pytest.raises(UserError, match="id 3 appears twice in frame 1"):
        evaluate_tables(table, table)


def test_eval_mot_cli_prints_scores(gt_dev_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval-mot", str(gt_dev_path), str(gt_dev_path), "--frames", "1-100"]) == 0
    out = capsys.readouterr().out
    assert "MOTA 1.000" in out and "IDF1 1.000" in out and "frames 100" in out


def test_eval_mot_cli_malformed_file_exits_2_with_one_line(
    tmp_path: Path, gt_dev_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1,1,10,10,5,5,1\nnot,a,mot,line,at,all\n")
    assert main(["eval-mot", str(bad), str(gt_dev_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("reidwatch: error: ") and "bad.txt:2" in err[0]
