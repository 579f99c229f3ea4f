"""The application runtime: :class:`Runtime` builds ingest jobs, live monitors, searches and adaptation runs
from a configuration (``core``), with one detector and one encoder per device shared by every thread
(``models``), built by ``components``."""

from app.runtime.core import IngestOutcome, IngestRequest, Runtime

__all__ = ["IngestOutcome", "IngestRequest", "Runtime"]
