"""Fragment stitching and gap interpolation on hand-written boxes."""

from __future__ import annotations

import numpy as np
import pytest

from trackers.interpolate import interpolate_gaps
from trackers.stitch import (
    StitchConfig,
    TrackletSummary,
    fit_velocity,
    stitch_rows,
    stitch_tracklets,
    summarize_tracklets,
)
from trackers.types import TrackRows


def _walk(track_id: int, frames: range, x0: float, y0: float, vx: float, vy: float = 0.0, h: float = 80.0):
    """Rows of a person (40 x h box) whose left-top corner is at (x0 + vx*f, y0 + vy*f) in frame f."""
    f = np.asarray(frames)
    boxes = np.stack([x0 + vx * f, y0 + vy * f, x0 + vx * f + 40, y0 + vy * f + h], axis=1)
    return f, np.full(len(f), track_id), boxes


def _rows(*walks) -> TrackRows:
    frames = np.concatenate([w[0] for w in walks])
    return TrackRows(
        frames=frames,
        ids=np.concatenate([w[1] for w in walks]),
        boxes=np.concatenate([w[2] for w in walks]),
        scores=np.full(len(frames), 0.8),
    )


def test_fit_velocity_is_the_least_squares_slope() -> None:
    frames = np.array([3, 4, 6, 7])
    centres = np.stack([2.0 * frames + 1, -0.5 * frames], axis=1)
    np.testing.assert_allclose(fit_velocity(frames, centres), [2.0, -0.5])
    np.testing.assert_allclose(fit_velocity(frames[:1], centres[:1]), [0.0, 0.0])


def test_joins_a_fragment_across_an_occlusion_gap() -> None:
    rows = _rows(_walk(7, range(1, 21), 10, 100, 6), _walk(9, range(29, 50), 10, 100, 6))
    tracklets = summarize_tracklets(rows)
    assert [t.track_id for t in tracklets] == [7, 9]
    np.testing.assert_allclose(tracklets[0].end_velocity, [6, 0], atol=1e-9)
    assert stitch_tracklets(tracklets) == {7: 7, 9: 7}


def test_never_joins_fragments_that_overlap_in_time() -> None:
    # same straight path, but the second fragment starts one frame before the first ends
    rows = _rows(_walk(1, range(1, 21), 10, 100, 6), _walk(2, range(20, 40), 10, 100, 6))
    assert stitch_tracklets(summarize_tracklets(rows)) == {1: 1, 2: 2}


def test_refuses_gaps_longer_than_max_gap_and_far_away_starts() -> None:
    long_gap = _rows(_walk(1, range(1, 21), 10, 100, 2), _walk(2, range(60, 80), 10, 100, 2))
    assert stitch_tracklets(summarize_tracklets(long_gap), StitchConfig(max_gap=30)) == {1: 1, 2: 2}
    # the new fragment starts 200 px below where the first one was heading
    far = _rows(_walk(1, range(1, 21), 10, 100, 6), _walk(2, range(25, 45), 10, 300, 6))
    assert stitch_tracklets(summarize_tracklets(far)) == {1: 1, 2: 2}


def test_a_person_who_walked_out_is_not_joined_to_one_who_walked_in() -> None:
    # walks right out of a 640-px-wide view at frame 20; 12 frames later someone walks in there, heading left
    rows = _rows(_walk(1, range(1, 21), 480, 100, 6), _walk(2, range(32, 50), 792, 100, -6))
    tracklets = summarize_tracklets(rows)
    assert stitch_tracklets(tracklets, frame_size=(640, 480)) == {1: 1, 2: 2}
    assert stitch_tracklets(tracklets) == {1: 1, 2: 1}  # without the frame size, motion alone would join
    # the same gap in the middle of the view is an occlusion, and is joined
    inside = _rows(_walk(1, range(1, 21), 100, 100, 6), _walk(2, range(32, 50), 100, 100, 6))
    assert stitch_tracklets(summarize_tracklets(inside), frame_size=(640, 480)) == {1: 1, 2: 1}


def test_two_parallel_walkers_are_each_joined_to_their_own_continuation() -> None:
    rows = _rows(
        _walk(1, range(1, 21), 10, 100, 5),
        _walk(2, range(1, 21), 10, 220, 5),
        _walk(3, range(26, 40), 10, 220, 5),  # continues walker 2 (listed first among the later ones)
        _walk(4, range(27, 40), 10, 100, 5),  # continues walker 1
    )
    assert stitch_tracklets(summarize_tracklets(rows)) == {1: 1, 2: 2, 3: 2, 4: 1}


def test_chains_of_fragments_join_into_the_first_id() -> None:
    rows = _rows(
        _walk(5, range(1, 11), 10, 100, 4),
        _walk(6, range(14, 24), 10, 100, 4),
        _walk(8, range(28, 40), 10, 100, 4),
    )
    mapping = stitch_tracklets(summarize_tracklets(rows))
    assert mapping == {5: 5, 6: 5, 8: 5}
    joined = stitch_rows(rows)
    assert set(joined.ids.tolist()) == {5}
    np.testing.assert_array_equal(joined.frames, rows.frames)


def test_appearance_picks_the_lookalike_and_gates_the_stranger() -> None:
    # two fragments start near the predicted position at the same time; only appearance tells them apart
    rows = _rows(
        _walk(1, range(1, 21), 10, 100, 5),
        _walk(2, range(25, 40), 10, 100, 5),
        _walk(3, range(25, 40), 14, 104, 5),
    )
    red, blue = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    looks = {1: red, 2: blue, 3: red * 0.9 + blue * 0.1}
    features = np.stack([looks[int(i)] for i in rows.ids])
    assert stitch_tracklets(summarize_tracklets(rows, features)) == {1: 1, 2: 2, 3: 1}
    # with only the stranger available, the appearance gate refuses the join
    only_stranger = rows.take(rows.ids != 3)
    feats = np.stack([looks[int(i)] for i in only_stranger.ids])
    assert stitch_tracklets(summarize_tracklets(only_stranger, feats)) == {1: 1, 2: 2}
    assert stitch_tracklets(summarize_tracklets(only_stranger)) == {1: 1, 2: 1}  # motion alone would join


def test_tracklet_summary_validates_shapes() -> None:
    with pytest.raises(ValueError, match=r"first_box: expected shape \(4,\)"):
        TrackletSummary(
            track_id=1,
            first_frame=1,
            last_frame=2,
            first_box=np.zeros(3),
            last_box=np.zeros(4),
            start_velocity=np.zeros(2),
            end_velocity=np.zeros(2),
        )
    with pytest.raises(ValueError, match="before first_frame"):
        TrackletSummary(
            track_id=1,
            first_frame=5,
            last_frame=2,
            first_box=np.zeros(4),
            last_box=np.zeros(4),
            start_velocity=np.zeros(2),
            end_velocity=np.zeros(2),
        )


def test_interpolation_fills_short_gaps_linearly_and_leaves_long_ones() -> None:
    rows = TrackRows(
        frames=np.array([1, 4, 10, 50]),
        ids=np.array([3, 3, 3, 3]),
        boxes=np.array([[0, 0, 10, 20], [30, 0, 40, 20], [90, 0, 100, 20], [0, 0, 10, 20]], np.float32),
        scores=np.array([0.9, 0.6, 0.8, 0.7]),
    )
    out, added = interpolate_gaps(rows, max_gap=10)
    assert out.frames.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 50]
    assert added.tolist() == [False, True, True, False, True, True, True, True, True, False, False]
    np.testing.assert_allclose(out.boxes[1], [10, 0, 20, 20])
    np.testing.assert_allclose(out.boxes[2], [20, 0, 30, 20])
    np.testing.assert_allclose(out.scores[1], 0.6)
    assert (out.ids == 3).all()
    original, _ = interpolate_gaps(rows.take(np.array([0, 1])), max_gap=1)
    assert len(original) == 2  # a gap of 2 missing frames exceeds max_gap=1


def test_interpolation_rejects_two_boxes_in_one_frame() -> None:
    rows = TrackRows(frames=np.array([1, 1]), ids=np.array([2, 2]), boxes=np.zeros((2, 4)), scores=np.ones(2))
    with pytest.raises(ValueError, match="two boxes in one frame"):
        interpolate_gaps(rows)


def test_frame_rate_scaling_keeps_durations_and_speeds() -> None:
    assert StitchConfig.for_frame_rate(7.0) == StitchConfig()
    fast = StitchConfig.for_frame_rate(28.0, max_height_ratio=2.0)
    base = StitchConfig()
    assert fast.max_gap == 4 * base.max_gap and fast.velocity_window == 4 * base.velocity_window
    assert fast.motion_gate_per_frame == pytest.approx(base.motion_gate_per_frame / 4)
    assert fast.max_speed == pytest.approx(base.max_speed / 4)
    assert fast.max_height_ratio == 2.0
    with pytest.raises(ValueError):
        StitchConfig.for_frame_rate(0)
