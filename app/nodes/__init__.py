"""Cameras registered in the store and served by ``watch --node`` processes that lease them (issue 12)."""
