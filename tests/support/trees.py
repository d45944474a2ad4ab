"""Walking parsed YAML/JSON documents, for the tests that mutate pipelines."""

from __future__ import annotations

from typing import Any


def node_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and list indexes) to a node below ``node``, parents before children.

    >>> node_paths({"a": [1, {"b": 2}]})
    [('a',), ('a', 0), ('a', 1), ('a', 1, 'b')]
    """
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += node_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += node_paths(value, (*prefix, index))
    return found
