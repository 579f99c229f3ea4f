"""Detection on its own thread, ahead of tracking, embedding and store writes.

The ingest pipeline has four stages: decoding (``FrameReader``'s thread), detection, tracking plus
embedding, and store writes. :class:`DetectAhead` runs detection on a thread up to ``depth`` batches ahead
of the consumer, so while the detector (which releases the GIL inside torch / OpenVINO / ONNX Runtime) works
on frame t+1, the consumer tracks, embeds and writes frame t. Whether it pays is measured
(``bench/bench_pipeline.py --serial ENGINE``); :func:`overlap_default` says when it is used.

With one frame per batch, frames go through the detector's ``detect_stream`` where it has one: on OpenVINO
several frames are in flight on its own threads (throughput streams) while this thread tracks the earlier ones,
with the same detections in the same order (:mod:`trackers.ov_stream`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from app.ingest.video import put_unless_stopped
from reid_core.engines import usable_threads

_DONE = object()


def overlap_default() -> bool:
    """Off by measurement: on 2 cores the detector's engine already keeps both busy, and detecting ahead was
    no faster (``bench/bench_pipeline.py --serial openvino``: 1.53 vs 1.64 frames/s, within the noise). On
    four or more usable cores (``os.sched_getaffinity``) it is on, so tracking and writes take a spare core;
    that case is not measured yet."""
    return usable_threads() >= 4


class DetectAhead:
    """Iterate ``(frames, detections)`` batches; detection runs on a thread, ``depth`` batches ahead.

    ``frames`` yields objects with ``index`` and ``image`` (``app.ingest.video.Frame``); iteration stops at
    the end of ``frames`` or at the first frame with ``index >= max_frames`` (then ``stopped_early``). An
    exception raised by the detector or the reader is raised again in the consumer. ``close()`` (or leaving
    the ``with`` block) stops the thread.
    """

    def __init__(self, frames: Iterable[Any], detector: Any, *, batch_frames: int = 1,
                 max_frames: int | None = None, depth: int = 2, threaded: bool = True) -> None:
        if batch_frames < 1 or depth < 1:
            raise ValueError(f"batch_frames and depth must be >= 1, got {batch_frames}, {depth}")
        self._frames = frames
        self._detector = detector
        self._batch = batch_frames
        self._max = max_frames
        self._threaded = threaded
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stopped_early = False

    def __enter__(self) -> DetectAhead:
        if self._threaded:
            self._thread = threading.Thread(target=self._run, name="detect-ahead", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the detection thread (what it detected but was not consumed is dropped)."""
        self._stop.set()
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _until_max(self) -> Iterator[Any]:
        for frame in self._frames:
            if self._stop.is_set():
                return
            if self._max is not None and frame.index >= self._max:
                self.stopped_early = True
                return
            yield frame

    def _batches(self) -> Iterator[tuple[list[Any], list[Any]]]:
        stream = getattr(self._detector, "detect_stream", None)
        if self._batch == 1 and stream is not None:  # frames in flight where the engine runs several at once
            for frame, found in stream(self._until_max(), lambda f: f.image):
                yield [frame], [found]
            return
        batch: list[Any] = []
        for frame in self._frames:
            if self._stop.is_set():
                return
            if self._max is not None and frame.index >= self._max:
                self.stopped_early = True
                break
            batch.append(frame)
            if len(batch) == self._batch:
                yield batch, self._detector.detect_batch([f.image for f in batch])
                batch = []
        if batch:
            yield batch, self._detector.detect_batch([f.image for f in batch])

    def _put(self, item: object) -> bool:
        return put_unless_stopped(self._q, item, self._stop)

    def _run(self) -> None:
        try:
            for item in self._batches():
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
            return
        self._put(_DONE)

    def __iter__(self) -> Iterator[tuple[list[Any], list[Any]]]:
        if not self._threaded:
            yield from self._batches()
            return
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
