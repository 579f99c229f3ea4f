"""The audit row of a site-adaptation run (``Runtime.adapt``): its options and what it wrote or applied."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from app.privacy import audit
from app.privacy.files import restrict_tree
from app.store import Database

log = logging.getLogger(__name__)


def adapt_details(options: Any, outcome: Any, error: BaseException | None = None) -> dict[str, Any]:
    """The details of an adaptation run's audit row; pure."""
    opts = dataclasses.asdict(options) if dataclasses.is_dataclass(options) else {"options": str(options)}
    details: dict[str, Any] = {"options": opts, "status": "done" if error is None else
                               ("interrupted" if isinstance(error, KeyboardInterrupt) else "failed")}
    if error is not None:
        details["error"] = f"{type(error).__name__}: {error}"
    if outcome is not None:
        details.update({"checkpoint": Path(str(outcome.checkpoint)).name, "applied": bool(outcome.applied),
                        "message": str(outcome.message)})
    cams = opts.get("cameras") or []
    details["subjects"] = audit.subjects(cameras=cams)
    return details


def record_adapt(db: Database, who: str | None, options: Any, outcome: Any,
                 error: BaseException | None = None) -> None:
    """Record the run; tighten the folder of its checkpoint. Never raises over the run's own error."""
    try:
        if outcome is not None:
            restrict_tree(Path(str(outcome.checkpoint)).parent)
        audit.record(db, "adapt", who, adapt_details(options, outcome, error))
    except Exception:
        if error is None:
            raise
        log.exception("could not record the failed adaptation run in the audit trail")
