"""Many records in one GraphQL request: the mutation's fields repeated under aliases.

GraphQL has no list endpoint to batch against, but one document may hold the same mutation
field many times under different aliases, each with its own variables. For a batch of ``n``
records the document becomes::

    mutation($r0_input: ProductInput!, $r1_input: ProductInput!) {
      r0_productCreate: productCreate(input: $r0_input) { ... }
      r1_productCreate: productCreate(input: $r1_input) { ... }
    }

and the answer is split back into one answer per record, shaped like the answer to the
document as written (``{"data": {"productCreate": ...}, "errors": [...]}``), so ``id_path``,
the error checks and the ``responses`` rules apply to each record exactly as without batching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from graphql import parse, print_ast, visit
from graphql.language import (
    DocumentNode,
    FieldNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
)

from runner.errors import FatalError

from .client import Decision, HttpClient, Reply

__all__ = ["AliasedBatch"]


def _prefix(index: int) -> str:
    return f"r{index}_"


class _Rename(Visitor):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def enter_variable(self, node: VariableNode, *_: Any) -> VariableNode:
        return VariableNode(name=NameNode(value=self.prefix + node.name.value))


class AliasedBatch:
    """One mutation document, repeated under aliases for a batch of records."""

    def __init__(self, document: str) -> None:
        ast = parse(document, no_location=True)
        operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            raise FatalError("a batched GraphQL document must hold exactly one operation")
        self._op = operations[0]
        self._others = tuple(d for d in ast.definitions if d is not self._op)
        fields = self._op.selection_set.selections
        if not all(isinstance(f, FieldNode) for f in fields):
            raise FatalError("a batched GraphQL document must select fields at its root, not "
                             "fragments; spell the mutation's fields out, or remove batch")
        self.keys = tuple(
            (f.alias or f.name).value for f in fields if isinstance(f, FieldNode)
        )
        self._documents: dict[int, str] = {}  # by batch size: a full batch and a last one

    def document(self, count: int) -> str:
        if count not in self._documents:
            self._documents[count] = self._build(count)
        return self._documents[count]

    def _build(self, count: int) -> str:
        definitions: list[VariableDefinitionNode] = []
        selections: list[FieldNode] = []
        for index in range(count):
            prefix = _prefix(index)
            renamed: OperationDefinitionNode = visit(self._op, _Rename(prefix))
            definitions.extend(renamed.variable_definitions or ())
            for field, key in zip(renamed.selection_set.selections, self.keys, strict=True):
                assert isinstance(field, FieldNode)
                selections.append(FieldNode(
                    alias=NameNode(value=prefix + key), name=field.name,
                    arguments=field.arguments, directives=field.directives,
                    selection_set=field.selection_set,
                ))
        operation = OperationDefinitionNode(
            operation=self._op.operation, name=self._op.name,
            variable_definitions=tuple(definitions), directives=self._op.directives,
            selection_set=SelectionSetNode(selections=tuple(selections)),
        )
        return print_ast(DocumentNode(definitions=(operation, *self._others)))

    @staticmethod
    def variables(per_record: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for index, variables in enumerate(per_record):
            merged.update({_prefix(index) + str(k): v for k, v in variables.items()})
        return merged

    def send(
        self, client: HttpClient, method: str, path: str,
        per_record: Sequence[Mapping[str, Any]], headers: Mapping[str, str],
    ) -> tuple[Reply, list[Reply]]:
        """Send the batch; returns its reply and, when it was answered, one decided reply per
        record (each judged by the client's rules and checks as if sent alone)."""
        count = len(per_record)
        body = {"query": self.document(count), "variables": self.variables(per_record)}
        # Decided as REST: errors inside the answer belong to records, judged one by one.
        reply = client.send(method, path, body=body, headers=headers)
        if reply.decision is not Decision.OK:
            return reply, []
        views = []
        for answer in self.split(reply.json(), count):
            response = httpx.Response(reply.status, json=answer,
                                      request=reply.response.request)
            view = Reply(response, reply.method)
            view.decision = client.decide(view, "graphql", single_record=True)
            views.append(view)
        return reply, views

    def split(self, body: Any, count: int) -> list[dict[str, Any]]:
        """One answer per record. An error whose ``path`` names a record's alias is that
        record's; an error without a path is every record's. When ``data`` is null (a
        non-null field failed) no record has a result, and each says so."""
        body = body if isinstance(body, Mapping) else {}
        data = body.get("data")
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        answers = []
        for index in range(count):
            prefix = _prefix(index)
            own = [e for e in errors if _error_owner(e) in (None, prefix)]
            answer: dict[str, Any] = {}
            if isinstance(data, Mapping):
                answer["data"] = {key: data.get(prefix + key) for key in self.keys}
            else:
                answer["data"] = None
                if not own:
                    own = [{"message": "no result for this record: the batch's data is null "
                                       "after another record's error; it may have been written"}]
            if own:
                answer["errors"] = own
            answers.append(answer)
        return answers


def _error_owner(error: Any) -> str | None:
    path = error.get("path") if isinstance(error, Mapping) else None
    if isinstance(path, list) and path and isinstance(path[0], str) and path[0].startswith("r"):
        head, sep, _ = path[0].partition("_")
        if sep and head[1:].isdigit():
            return head + "_"
    return None
