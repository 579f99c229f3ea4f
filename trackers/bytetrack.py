"""ByteTrack (ultralytics' ``BYTETracker``) behind the :class:`~trackers.types.Tracker` protocol.

One instance per camera. Ids are this adapter's own: every instance starts at 1 and counts up,
whatever ultralytics does with its track counter (older releases share one class-level counter
between all trackers in the process, and reset it whenever a tracker is created).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from trackers.appearance import ColourCue, shift_costs
from trackers.types import Detections, Tracks

log = logging.getLogger(__name__)

_ID_ATTR = "_reidwatch_id"  # set on ultralytics' STrack objects, which persist while a track lives


@dataclass(frozen=True, kw_only=True)
class ByteTrackConfig:
    """ByteTrack thresholds (ultralytics' ``bytetrack.yaml`` names and defaults).

    track_high_thresh: detections at or above this score go to the first association;
    track_low_thresh: detections between this and the high threshold go to the second, IoU-only association;
    new_track_thresh: an unmatched detection starts a track only at or above this score;
    track_buffer: frames a lost track is kept for re-association;
    match_thresh: largest association cost (1 - IoU, score-fused) accepted in the first association;
    fuse_score: multiply IoU similarity by the detection score;
    output_boxes: ``"detection"`` reports the matched detection's box, ``"kalman"`` the filtered state;
    colour_cue: let clothes' colour reorder the first association's candidates, so tracks keep their people where
    people cross (``trackers.appearance``); off = ultralytics' ByteTrack unchanged.
    """

    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    track_buffer: int = 30
    match_thresh: float = 0.8
    fuse_score: bool = True
    output_boxes: Literal["detection", "kalman"] = "detection"
    colour_cue: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.track_low_thresh <= self.track_high_thresh <= 1.0:
            raise ValueError(
                f"need 0 <= track_low_thresh <= track_high_thresh <= 1, got {self.track_low_thresh}, "
                f"{self.track_high_thresh}"
            )
        if self.track_buffer < 0:
            raise ValueError(f"track_buffer must be >= 0, got {self.track_buffer}")
        if not isinstance(self.colour_cue, bool):
            raise ValueError(f"colour_cue must be true or false, got {self.colour_cue!r}")
        if self.output_boxes not in ("detection", "kalman"):
            raise ValueError(f"output_boxes must be 'detection' or 'kalman', got {self.output_boxes!r}")


class _UltralyticsDets:
    """The slice of ultralytics' ``Boxes`` API that ``BYTETracker.update`` reads, over plain arrays."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy = xyxy
        self.conf = conf
        self.cls = np.zeros(len(conf), np.float32)
        self.xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _UltralyticsDets:
        return _UltralyticsDets(self.xyxy[index], self.conf[index])


def ultralytics_namespace(tracker_type: str, values: dict[str, Any]) -> Any:
    """The ``IterableSimpleNamespace`` ultralytics' trackers take, from plain keyword values."""
    from ultralytics.utils import IterableSimpleNamespace

    return IterableSimpleNamespace(tracker_type=tracker_type, **values)


class ByteTrackTracker:
    """ultralytics ByteTrack for one camera; ``update`` once per frame, in order."""

    needs_features = False

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker

        self.config = config or ByteTrackConfig()
        values = asdict(self.config)
        values.pop("output_boxes")
        values.pop("colour_cue")
        self._cue = ColourCue() if self.config.colour_cue else None
        args = ultralytics_namespace("bytetrack", values)
        self._tracker: Any
        if self._cue is None:
            self._tracker = BYTETracker(args)
        else:
            self._tracker = _colour_tracker_class()(args)
            self._tracker.cue = self._cue
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._tracker.reset()
        self._next_id = 1
        if self._cue is not None:
            self._cue.reset()

    def update(self, detections: Detections, frame: np.ndarray, features: np.ndarray | None = None) -> Tracks:
        """Associate this frame's ``detections``; returns the confirmed tracks matched in this frame.

        ``frame`` (BGR) gives the colour cue its looks when it is on; ``features`` are not used (ByteTrack
        associates by boxes, motion and, with the cue, clothes' colour).
        """
        if self._cue is not None:
            self._cue.see(frame, detections.boxes, detections.keypoints)
        self._tracker.update(_UltralyticsDets(detections.boxes, detections.scores), frame)
        tracks = self._collect(detections)
        if self._cue is not None:
            alive = {int(getattr(t, _ID_ATTR)) for t in (*self._tracker.tracked_stracks, *self._tracker.lost_stracks)
                     if getattr(t, _ID_ATTR, None) is not None}
            self._cue.learn(tracks.ids, tracks.det_index, alive)
        return tracks

    def _collect(self, detections: Detections) -> Tracks:
        frame_id = self._tracker.frame_id
        live = [t for t in self._tracker.tracked_stracks if t.is_activated and t.frame_id == frame_id]
        if not live:
            return Tracks.empty()
        ids = np.array([self._own_id(t) for t in live], np.int64)
        det_index = np.array([int(t.idx) for t in live], np.int64)
        if self.config.output_boxes == "detection":
            boxes = detections.boxes[det_index]
        else:
            boxes = np.stack([t.xyxy for t in live])
        order = np.argsort(ids)
        return Tracks(
            ids=ids[order],
            boxes=boxes[order],
            scores=detections.scores[det_index][order],
            keypoints=detections.keypoints[det_index][order],
            det_index=det_index[order],
        )

    def _own_id(self, track: Any) -> int:
        own = getattr(track, _ID_ATTR, None)
        if own is None:
            own = self._next_id
            self._next_id += 1
            setattr(track, _ID_ATTR, own)
        return int(own)


_COLOUR_TRACKER: type | None = None


def _colour_tracker_class() -> type:
    """ultralytics' ``BYTETracker`` whose association cost weighs the ``cue`` attribute's colour (made once, on
    first use: importing this module loads no ultralytics)."""
    global _COLOUR_TRACKER
    if _COLOUR_TRACKER is None:
        from ultralytics.trackers.byte_tracker import BYTETracker

        class ColourByteTracker(BYTETracker):
            cue: ColourCue | None = None

            def get_dists(self, tracks: list[Any], detections: list[Any]) -> np.ndarray:
                dists = super().get_dists(tracks, detections)
                if self.cue is None or dists.size == 0:
                    return dists
                cue = self.cue
                # only tracks with our id have a colour: unconfirmed ones (matched at ultralytics' own 0.7) get none
                far = np.array([[cue.distance(getattr(t, _ID_ATTR, None), int(getattr(d, "idx", -1)))
                                 for d in detections] for t in tracks], np.float64).reshape(dists.shape)
                return shift_costs(dists, cue.share(far), float(self.args.match_thresh) - 1e-6)

        _COLOUR_TRACKER = ColourByteTracker
    return _COLOUR_TRACKER
