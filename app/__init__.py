"""reidwatch application layer: sources, pipeline, store, linking, reports and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reidwatch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
