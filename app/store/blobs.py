"""Files kept inside a PostgreSQL store (large objects), so every node of a site reads the same file.

The adapted encoder of a server store is written once by ``reidwatch adapt`` on one machine; the other nodes
(``watch``, ``worker``, ``ingest``, ``info``) fetch it from the database into their files folder the first time
they need it, checked by its SHA-256. PostgreSQL's large objects need no table of their own (no migration); a
reference is ``{"oid", "sha256", "size", "name"}``, stored in a setting. SQLite stores keep the file beside the
store and need none of this.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

CHUNK = 8 << 20  # bytes per round trip: a checkpoint of any size streams through a bounded buffer


def put_file(s: Session, path: Path) -> dict:
    """Copy ``path`` into a new large object in the session's transaction; its reference."""
    oid = int(s.execute(text("SELECT lo_create(0)")).scalar_one())
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            s.execute(text("SELECT lo_put(:oid, :off, :data)"), {"oid": oid, "off": size, "data": chunk})
            digest.update(chunk)
            size += len(chunk)
    return {"oid": oid, "sha256": digest.hexdigest(), "size": size, "name": Path(path).name}


def fetch_file(s: Session, ref: dict, folder: Path) -> Path:
    """The referenced file in ``folder`` (``<sha256>-<name>``): fetched from the database unless a copy with the
    same digest is there already. Written to a temporary name, checked, then renamed (a crash leaves no half)."""
    from app.store.files import private_mkdir, restrict

    out = Path(folder) / f"{ref['sha256'][:16]}-{ref['name']}"
    if out.is_file() and out.stat().st_size == int(ref["size"]):
        return out
    private_mkdir(folder)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            restrict(tmp)
            for off in range(0, int(ref["size"]), CHUNK):
                chunk = bytes(s.execute(text("SELECT lo_get(:oid, :off, :n)"),
                                        {"oid": int(ref["oid"]), "off": off, "n": CHUNK}).scalar_one())
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != ref["sha256"]:
            raise OSError(f"{ref['name']}: the copy fetched from the database does not match its digest")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def drop(s: Session, ref: dict | None) -> None:
    """Remove a large object that is no longer referenced (a replaced encoder); a missing one is ignored."""
    if ref and ref.get("oid") is not None:
        s.execute(text("SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid = :oid"),
                  {"oid": int(ref["oid"])})
