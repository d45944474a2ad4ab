"""Query cost, the way Shopify's GraphQL Admin API reckons it (simplified).

Requested cost is computed from the document before it runs: a scalar or enum field costs 0,
an object field 1 plus its selections, a connection 2 plus its page size (``first`` or
``take``, else the default page) times the cost of one item (its node: 1 plus the node's
selections), ``pageInfo`` 0; each root field of a mutation costs 10. Actual cost is the same
with the number of items the top-level connections really returned, so a short last page
gives the difference back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql.utilities import get_operation_ast

__all__ = ["MUTATION_COST", "Cost", "requested_cost"]

MUTATION_COST = 10


@dataclass
class Cost:
    """The requested cost, and per top-level connection (response key, page size, item cost)
    to work out the actual cost from the result."""

    requested: int = 0
    connections: list[tuple[str, int, int]] = field(default_factory=list)

    def actual(self, data: dict[str, Any] | None) -> int:
        unused = 0
        for key, size, item in self.connections:
            found = (data or {}).get(key) or {}
            returned = len(found.get("nodes") or found.get("edges") or [])
            unused += max(0, size - returned) * item
        return self.requested - unused


@dataclass(frozen=True)
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    default_page: int


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    *,
    default_page: int,
) -> Cost:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Cost()
    if operation.operation == OperationType.MUTATION:
        return Cost(requested=MUTATION_COST * len(operation.selection_set.selections))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, fragments, variables or {}, default_page)
    root = schema.query_type
    assert root is not None
    cost = Cost()
    for node, owner in _fields(walk, operation.selection_set, root):
        named, size, item = _field_cost(walk, node, owner)
        if named is not None and named.name.endswith("Connection"):
            key = node.alias.value if node.alias else node.name.value
            cost.connections.append((key, size, item))
            cost.requested += 2 + size * item
        elif named is not None:
            cost.requested += item
    return cost


def _fields(
    walk: _Walk, selections: SelectionSetNode, owner: GraphQLNamedType
) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
    """The fields of a selection set with the type that declares them, fragments expanded."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            yield selection, owner
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = walk.fragments.get(selection.name.value)
            if fragment is None:
                continue
            condition: Any = fragment.type_condition
            inner = fragment.selection_set
        elif isinstance(selection, InlineFragmentNode):
            condition, inner = selection.type_condition, selection.selection_set
        else:
            continue
        typed = walk.schema.get_type(condition.name.value) if condition else owner
        yield from _fields(walk, inner, typed or owner)


def _field_cost(
    walk: _Walk, node: FieldNode, owner: GraphQLNamedType
) -> tuple[GraphQLNamedType | None, int, int]:
    """(the field's type, page size, cost): for a connection, the cost of one item."""
    if not isinstance(owner, GraphQLObjectType | GraphQLInterfaceType):
        return None, 0, 0
    definition = owner.fields.get(node.name.value)
    if definition is None:
        return None, 0, 0
    named = get_named_type(definition.type)
    if is_leaf_type(named) or named.name == "PageInfo":
        return None, 0, 0
    if named.name.endswith("Connection") and isinstance(named, GraphQLObjectType):
        size = _int_argument(walk, node, "first") or _int_argument(walk, node, "take")
        size = size or walk.default_page
        return named, int(size), _item_cost(walk, node.selection_set, named)
    return named, 0, 1 + _selection_cost(walk, node.selection_set, named)


def _int_argument(walk: _Walk, node: FieldNode, name: str) -> int | None:
    """A whole-number argument, literal or variable; None if absent or not a whole number
    (validation and execution report a wrong one)."""
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value: Any = argument.value
        if isinstance(value, VariableNode):
            value = walk.variables.get(value.name.value)
        elif isinstance(value, IntValueNode):
            value = int(value.value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def _selection_cost(
    walk: _Walk, selections: SelectionSetNode | None, owner: GraphQLNamedType
) -> int:
    if selections is None:
        return 0
    total = 0
    for node, declared in _fields(walk, selections, owner):
        named, size, cost = _field_cost(walk, node, declared)
        if named is not None and named.name.endswith("Connection"):
            total += 2 + size * cost
        else:
            total += cost
    return total


def _item_cost(
    walk: _Walk, selections: SelectionSetNode | None, connection: GraphQLObjectType
) -> int:
    """The cost of one item of a connection: its node, through ``nodes`` or ``edges``."""
    if selections is None:
        return 0
    item = 0
    for node, _declared in _fields(walk, selections, connection):
        name = node.name.value
        if name == "nodes":
            node_type = get_named_type(connection.fields["nodes"].type)
            item = max(item, 1 + _selection_cost(walk, node.selection_set, node_type))
        elif name == "edges" and node.selection_set is not None:
            edge = get_named_type(connection.fields["edges"].type)
            assert isinstance(edge, GraphQLObjectType)
            for inner, _ in _fields(walk, node.selection_set, edge):
                if inner.name.value == "node":
                    node_type = get_named_type(edge.fields["node"].type)
                    item = max(item, 1 + _selection_cost(walk, inner.selection_set, node_type))
    return item
