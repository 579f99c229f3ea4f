"""Widgets: layout only; behaviour lives in ``ui.controllers``."""
