"""Qt models over plain rows from ``app`` (identities, tracks, search hits, matches, ingestion jobs)."""
