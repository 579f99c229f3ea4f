"""The colour cue of ByteTrack's association (trackers.appearance): the maths on drawn crops, and the tracker on a
video file where two people meet and turn back, which plain ByteTrack gets wrong."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from trackers.appearance import ColourCue, ColourCueConfig, Looks, look_distance, shift_costs, stripe_colours
from trackers.bytetrack import ByteTrackConfig, ByteTrackTracker
from trackers.registry import make_tracker
from trackers.types import NUM_KEYPOINTS, Detections

RED, BLUE, BLACK, GREY = (40, 40, 200), (200, 80, 30), (30, 30, 30), (160, 160, 160)  # BGR
W, H = 36, 100  # a drawn person's box


def _keypoints(x: float, y: float, conf: float = 0.9) -> np.ndarray:
    """COCO keypoints of a person standing in the box at (x, y), in the frame's pixels."""
    k = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for i, (fx, fy) in {0: (0.5, 0.1), 5: (0.2, 0.22), 6: (0.8, 0.22), 11: (0.3, 0.5), 12: (0.7, 0.5),
                        13: (0.3, 0.72), 14: (0.7, 0.72), 15: (0.3, 0.95), 16: (0.7, 0.95)}.items():
        k[i] = (x + fx * W, y + fy * H, conf)
    return k


def _draw(img: np.ndarray, x: float, y: float, top: tuple[int, int, int], legs: tuple[int, int, int]) -> None:
    x, y = int(x), int(y)
    img[y:y + H // 5, x + W // 4:x + 3 * W // 4] = (150, 170, 200)
    img[y + H // 5:y + H // 2, x:x + W] = top
    img[y + H // 2:y + H, x + 3:x + W - 3] = legs


def _crop(top: tuple[int, int, int], legs: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((H, W, 3), 90, np.uint8)
    _draw(img, 0, 0, top, legs)
    return img, _keypoints(0, 0)


def _lab(bgr: tuple[int, int, int]) -> np.ndarray:
    return cv2.cvtColor(np.array([[bgr]], np.uint8), cv2.COLOR_BGR2LAB)[0, 0].astype(float)


def test_stripe_colours_are_the_torso_and_the_legs_placed_by_the_pose() -> None:
    crop, kp = _crop(RED, GREY)
    colours, seen = stripe_colours(crop, kp)
    assert seen.tolist() == [True, True]
    np.testing.assert_allclose(colours[0], _lab(RED), atol=2)
    np.testing.assert_allclose(colours[1], _lab(GREY), atol=2)
    kp_hidden_legs = kp.copy()
    kp_hidden_legs[13:, 2] = 0.0  # knees and ankles not seen: the legs stripe is hidden
    assert stripe_colours(crop, kp_hidden_legs)[1].tolist() == [True, False]


def test_look_distance_tells_clothes_apart_and_needs_a_shared_stripe() -> None:
    red = stripe_colours(*_crop(RED, BLACK))
    red_again = stripe_colours(*_crop((45, 40, 195), BLACK))
    blue = stripe_colours(*_crop(BLUE, GREY))
    same, other = look_distance(red, red_again), look_distance(red, blue)
    assert same is not None and other is not None
    assert same < 5 < 40 < other
    torso_only = (red[0], np.array([True, False]))
    legs_only = (blue[0], np.array([False, True]))
    assert look_distance(torso_only, legs_only) is None


def test_a_model_is_the_median_of_its_looks_so_one_odd_look_does_not_move_it() -> None:
    looks = Looks(maxlen=5)
    red = stripe_colours(*_crop(RED, BLACK))
    for _ in range(4):
        looks.add(red)
    looks.add(stripe_colours(*_crop(BLUE, GREY)))  # a sign behind the person, once
    assert look_distance(looks.describe(), red) == pytest.approx(0.0, abs=1e-6)
    assert len(looks) == 5


def _share(cue: ColourCue, track_id: int, det_index: int) -> float:
    return float(cue.share(np.array(cue.distance(track_id, det_index))))


def test_colour_needs_a_known_track_and_a_detection_in_front() -> None:
    cfg = ColourCueConfig(min_looks=2)
    cue = ColourCue(cfg)
    frame = np.full((300, 400, 3), 90, np.uint8)
    _draw(frame, 100, 50, RED, BLACK)  # alone
    _draw(frame, 250, 40, BLUE, GREY)  # behind ...
    _draw(frame, 262, 60, RED, BLACK)  # ... this one, whose feet are lower: nearer the camera
    boxes = np.array([[100, 50, 100 + W, 50 + H], [250, 40, 250 + W, 40 + H], [262, 60, 262 + W, 60 + H]], float)
    kps = np.stack([_keypoints(100, 50), _keypoints(250, 40), _keypoints(262, 60)])
    cue.see(frame, boxes, kps)
    assert cue.looks[0] is not None and cue.looks[2] is not None
    assert cue.looks[1] is None  # its colour would be the red coat in front of it
    assert _share(cue, 7, 0) == 0.0  # track 7 has no model yet
    for _ in range(2):
        cue.learn(np.array([7]), np.array([0]), alive={7})  # the lone red person: a clear look
    assert cue.model(7) is not None
    assert _share(cue, 7, 2) == 0.0  # same clothes
    assert _share(cue, 7, 1) == 0.0  # hidden: not judged
    cue.learn(np.array([8]), np.array([2]), alive={7, 8})  # covered by another box: not learnt
    assert cue.model(8) is None
    _draw(frame, 100, 50, BLUE, GREY)  # someone else in the same place
    cue.see(frame, boxes, kps)
    assert _share(cue, 7, 0) == pytest.approx(cfg.weight)
    cue.learn(np.array([], np.int64), np.array([], np.int64), alive=set())
    assert cue.model(7) is None  # a track the tracker let go is forgotten


def _meet_and_turn_back(path: Path, frames: int = 60, turn: int = 30, speed: float = 4.0) -> list[Detections]:
    """A video file of a red-coated person walking right and a blue-coated one walking left, a little further
    away; they meet (the red one in front, covering the other) at frame ``turn`` and walk back the way they came.
    Returns each frame's detections."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 7.0, (640, 360))
    dets = []
    for f in range(frames):
        s = min(f, turn) - max(0, f - turn)
        xa, xb = 200 + speed * s, 440 - speed * s
        img = np.full((360, 640, 3), 90, np.uint8)
        _draw(img, xb, 110, BLUE, GREY)
        _draw(img, xa, 130, RED, BLACK)
        writer.write(img)
        boxes = np.array([[xa, 130, xa + W, 130 + H], [xb, 110, xb + W, 110 + H]], np.float32)
        dets.append(Detections(boxes, np.array([0.9, 0.9], np.float32),
                               np.stack([_keypoints(xa, 130), _keypoints(xb, 110)])))
    writer.release()
    return dets


def _ids_of_red_and_blue(tracker: ByteTrackTracker, path: Path, dets: list[Detections]) -> list[tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    out = []
    for d in dets:
        ok, frame = cap.read()
        assert ok
        tracks = tracker.update(d, frame)
        by_det = {int(j): int(i) for i, j in zip(tracks.ids, tracks.det_index, strict=True)}
        if len(by_det) == 2:
            out.append((by_det[0], by_det[1]))
    cap.release()
    return out


def test_people_who_meet_and_turn_back_keep_their_tracks_by_colour(tmp_path: Path) -> None:
    path = tmp_path / "meet.avi"
    dets = _meet_and_turn_back(path)
    plain = _ids_of_red_and_blue(ByteTrackTracker(ByteTrackConfig(colour_cue=False)), path, dets)
    assert plain[0] != plain[-1] and set(plain[0]) == set(plain[-1])  # motion alone swaps the two people
    cued = _ids_of_red_and_blue(ByteTrackTracker(ByteTrackConfig()), path, dets)
    assert len(cued) == len(dets)
    assert set(cued) == {cued[0]}  # red keeps its track, blue keeps its track, every frame


def test_shifted_costs_stay_acceptable_and_keep_the_boxes_order() -> None:
    costs = np.array([[0.2, 0.5, 0.9], [0.79, 0.1, 0.3]])
    share = np.array([[0.4, 0.4, 0.4], [1.0, 0.0, 0.4]])
    out = shift_costs(costs, share, 0.8)
    assert (out[costs <= 0.8] <= 0.8).all()  # accepted by the boxes: still accepted
    assert out[0, 2] == 0.9  # refused by the boxes: unchanged
    assert out[0, 0] < out[0, 1]  # disliked alike: the boxes' order stays
    assert out[1, 1] == pytest.approx(0.1)  # no colour difference: no change
    assert out[1, 0] == pytest.approx(0.8)
    np.testing.assert_allclose(out[0, :2], [0.2 + 0.4 * 0.6, 0.5 + 0.4 * 0.3])


def test_colour_never_turns_away_the_only_match_the_boxes_accept() -> None:
    """A person steps aside into other light in one frame: the boxes barely accept the match (cost near
    ByteTrack's limit) and the colour is all wrong, yet the track goes on; a plain penalty would have cut it."""
    frame_ids = []
    for cue in (False, True):
        tracker = ByteTrackTracker(ByteTrackConfig(colour_cue=cue))
        ids = set()
        for f in range(30):
            frame = np.full((360, 640, 3), 90, np.uint8)
            x = 100 + 3 * f + (22 if f >= 15 else 0)
            _draw(frame, x, 100, RED if f < 15 else BLUE, BLACK if f < 15 else GREY)
            d = Detections(np.array([[x, 100, x + W, 100 + H]], np.float32), np.array([0.9], np.float32),
                           _keypoints(x, 100)[None])
            ids.update(tracker.update(d, frame).ids.tolist())
        frame_ids.append(ids)
    assert frame_ids == [{1}, {1}]
    cue = ColourCue()
    assert cue.config.weight > 0.8 - (1 - (36 - 22) / (36 + 22) * 0.9)  # a plain penalty would pass the limit


def test_the_cue_is_a_tracker_setting_and_bad_values_are_refused() -> None:
    assert make_tracker("bytetrack", colour_cue=False).config.colour_cue is False  # type: ignore[attr-defined]
    assert make_tracker("bytetrack").config.colour_cue is True  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="colour_cue must be true or false"):
        make_tracker("bytetrack", colour_cue="yes")
    with pytest.raises(ValueError, match="span"):
        ColourCueConfig(span=0)
    with pytest.raises(ValueError, match="clear"):
        ColourCueConfig(clear=0.5, occluded=0.3)
    with pytest.raises(ValueError, match="min_looks"):
        ColourCueConfig(min_looks=5, window=3)
