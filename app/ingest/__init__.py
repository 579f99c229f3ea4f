"""Recorded video in: validation and decoding (``video``), choosing samples (``sampling``), per-camera
processing shared with live cameras (``pipeline``) and one file's ingest job (``job``)."""
