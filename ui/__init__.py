"""The reidwatch desktop application (PySide6): views over Qt models fed with plain data from ``app``.

Start it with ``reidwatch ui`` (see :mod:`ui.app`). Layout lives in ``ui.views``, behaviour in
``ui.controllers``, table/list models in ``ui.models`` and background work in ``ui.workers``.
"""
