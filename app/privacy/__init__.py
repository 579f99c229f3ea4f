"""Privacy by default: the append-only audit trail, retention purges and legal holds, files kept private.

- :mod:`app.privacy.audit`: every search, export, decision, hold, purge, adaptation run and camera change is one
  ``audit_log`` row (who, when, what), chained by SHA-256 so that an edited or deleted row is detected;
- :mod:`app.privacy.retention`: which tracks a retention policy cuts (pure) and the purge that deletes them;
- :mod:`app.privacy.files`: owner-only permissions for the store, the files beside it, reports and checkpoints;
- :mod:`app.privacy.blur`, :mod:`app.privacy.bystanders`: blurring the heads of bystanders in report pictures.

The storage primitives (the audit row and its hash, file modes) live in ``app.store`` (``audit_log``, ``files``)
so that the store can audit its own changes; ``app.report`` uses this package, never the other way round.
"""
