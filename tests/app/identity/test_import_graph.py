"""Operator decisions and linking runs are separate concerns that meet in ``tables`` (what both read from the
store): neither module imports the other, directly or through another module."""

from __future__ import annotations

from pathlib import Path

from devkit.imports import import_chain, import_graph

ROOT = Path(__file__).resolve().parents[3]
DECISIONS = "app.identity.decisions"
LINKING = "app.identity.linking"


def test_decisions_and_linking_do_not_import_each_other() -> None:
    graph = import_graph(["app"], ROOT)
    assert "app.identity.tables" in graph[DECISIONS] and "app.identity.tables" in graph[LINKING]
    assert import_chain(graph, DECISIONS, LINKING) is None, import_chain(graph, DECISIONS, LINKING)
    assert import_chain(graph, LINKING, DECISIONS) is None, import_chain(graph, LINKING, DECISIONS)
    # the checker finds a chain where there is one: incremental linking uses both
    assert import_chain(graph, "app.identity.incremental", LINKING) == ["app.identity.incremental", LINKING]
    assert import_chain(graph, "app.commands.match", DECISIONS) is not None
