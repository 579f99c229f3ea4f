"""Files at rest are their owner's only: see :mod:`app.store.files` (here for callers above the store)."""

from app.store.files import (
    DIR_MODE,
    FILE_MODE,
    create_private_file,
    private_mkdir,
    restrict,
    restrict_store,
    restrict_tree,
)

__all__ = ["DIR_MODE", "FILE_MODE", "create_private_file", "private_mkdir", "restrict", "restrict_store",
           "restrict_tree"]
