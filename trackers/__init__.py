"""Detectors and multi-object trackers behind the small protocols of :mod:`trackers.types`.

- :mod:`trackers.detector`: YOLO pose detector (boxes + COCO-17 keypoints in one pass).
- :mod:`trackers.bytetrack`, :mod:`trackers.deepsort`: trackers, one instance per camera, own ids.
- :mod:`trackers.appearance`: the clothes' colour that ByteTrack's association weighs where people cross.
- :mod:`trackers.registry`: tracker classes by name.
- :mod:`trackers.stitch`, :mod:`trackers.interpolate`: offline joining of fragments and gap filling.

Importing this package loads nothing heavy; ultralytics and deep-sort-realtime are imported
when a detector or tracker is constructed.
"""
