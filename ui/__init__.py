"""The reidwatch desktop application (PySide6): views over Qt models fed with plain data from ``app``.

Start it with ``reidwatch ui`` (see :mod:`ui.app`). Layout lives in ``ui.views``, behaviour in
``ui.controllers``, table/list models in ``ui.models`` and background work in ``ui.workers``.
"""

import os
from pathlib import Path

from PySide6.QtCore import QLibraryInfo  # PySide6 first, then cv2 (below)


def prepare_qt_environment() -> None:
    """opencv-python ships its own Qt plugins and points Qt at them when imported; PySide6 then finds a
    foreign Qt and aborts. Import cv2 now (so its environment changes happen first), then point Qt back at
    PySide6's plugins. Idempotent; runs when any ``ui`` module is imported, before any QApplication exists."""
    try:
        import cv2  # noqa: F401
    except ImportError:  # pragma: no cover - opencv-python is a dependency
        pass
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    os.environ["QT_PLUGIN_PATH"] = plugins
    os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] = str(Path(plugins) / "platforms")
    if "cv2" in Path(os.environ.get("QT_QPA_FONTDIR", "")).parts:
        del os.environ["QT_QPA_FONTDIR"]


prepare_qt_environment()
