"""Live cameras: capture threads with reconnects and health, the live monitor, and keeping credentials out of sight.

Import what you need from the submodules (``app.live.capture``, ``app.live.redact``, ``app.live.monitor``...):
this package imports nothing itself, so ``app.live.redact`` stays cheap (no OpenCV) for logging and reports.
"""
