"""The GraphQL half of ``check``: documents parsed with graphql-core, variables checked.

Imported only when a pipeline has a GraphQL request: graphql-core costs ~0.1 s to import, which
``validate`` of a REST-only project does not pay.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import GraphQLSyntaxError, parse, visit
from graphql.language import NonNullTypeNode, OperationDefinitionNode, VariableNode, Visitor

from connectors.api import OptionProblem
from runner.errors import FatalError

from .graphql_batch import AliasedBatch
from .options_write import Action

__all__ = ["check_graphql", "check_graphql_batch"]


def _error(path: str, message: str) -> OptionProblem:
    return OptionProblem(path, message)


def _variable_names(template: Any, fields: frozenset[str] | None) -> set[str] | None:
    """The variables a ``variables`` block provides (None: not knowable without data)."""
    if isinstance(template, Mapping):
        return {str(k) for k in template}
    if template in ("{record}",) and fields is not None:
        return set(fields)
    return None


class _Used(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable_definition(self, *_: Any) -> Any:
        return Visitor.SKIP  # a definition is not a use

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def check_graphql(
    document: str, variables: Any, path: str, fields: frozenset[str] | None,
    supplied: frozenset[str] = frozenset(), doc_key: str = "document",
) -> Iterator[OptionProblem]:
    """Parse ``document`` and check its variables against what the block provides
    (``supplied``: variables the connector adds itself, such as a paging cursor)."""
    try:
        ast = parse(document)
    except GraphQLSyntaxError as exc:
        hint = ""
        if "{{" in document or "}}" in document:
            hint = "; the document is sent as written: write single braces"
        yield _error(f"{path}.{doc_key}", f"the GraphQL document does not parse: "
                                         f"{exc.message} (line {_line(exc)}){hint}")
        return
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        yield _error(f"{path}.{doc_key}", f"the document holds {len(operations)} operations; "
                                         "write exactly one")
        return
    declared = {d.variable.name.value: d for d in operations[0].variable_definitions or ()}
    used = _Used()
    visit(ast, used)
    for name in sorted(used.names - set(declared)):
        yield _error(f"{path}.{doc_key}", f"${name} is used but not declared; add it to the "
                                         "operation's variables")
    provided = _variable_names(variables, fields)
    if provided is None:
        return
    provided |= supplied
    for name, definition in sorted(declared.items()):
        required = isinstance(definition.type, NonNullTypeNode)
        if required and definition.default_value is None and name not in provided:
            yield _error(f"{path}.variables", f"the document declares ${name} as required "
                                              f"(non-null) but variables does not provide it; "
                                              f"add {name}: \"{{field}}\"")
    for name in sorted(provided - set(declared) - supplied):
        yield OptionProblem(f"{path}.variables.{name}", f"the document declares no ${name}; "
                            "declare it or remove it from variables", "warning")


def _line(exc: GraphQLSyntaxError) -> str:
    locations = exc.locations or []
    return f"{locations[0].line}:{locations[0].column}" if locations else "?"


def check_graphql_batch(name: str, opts: Action) -> list[OptionProblem]:
    """A GraphQL batch repeats the mutation's root fields under aliases: the document must
    select fields at its root, and the REST wrapper options mean nothing there."""
    problems = []
    try:
        AliasedBatch(opts.graphql.document if opts.graphql else "")
    except GraphQLSyntaxError:
        pass  # already said by check_graphql
    except FatalError as exc:
        problems.append(_error(f"{name}.graphql.document", str(exc)))
    given = opts.batch.given if opts.batch else frozenset()
    for part in ("body", "results", "id_path", "error_path"):
        if part in given:
            problems.append(OptionProblem(
                f"{name}.batch.{part}", f"batch.{part} is for REST batches; a GraphQL batch "
                f"maps each record's answer back itself (remove {part})", "warning"))
    if opts.graphql and not isinstance(opts.graphql.variables, Mapping):
        problems.append(_error(f"{name}.graphql.variables", "a GraphQL batch needs variables "
                               "as a mapping, e.g. variables: {input: \"{record}\"}"))
    return problems
