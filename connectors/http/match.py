"""``match``: ask the destination which natural keys it already holds, and by which ids.

The engine asks before it re-sends creates whose acknowledgement a crash may have lost, and,
with ``when: always``, before every create (find-or-create). Three request forms:

- REST, keys in the query: ``params: {sku: "{keys}"}``, several keys per request
  (``batch: N``), joined with commas or repeated (``keys_as``), paged like a listing;
- REST, one key in the path: ``path: /v1/products/by-sku/{key}`` (a 404 means absent);
- GraphQL: the keys as a list variable (``variables: {skus: "{keys}"}``), relay-paged.

Requests for different chunks of keys go out in parallel, bounded by the sink's pool.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from connectors.api import MISSING, get_path
from runner.errors import FatalError

from .client import Decision, HttpClient
from .options_read import Paging as PagingOptions
from .options_write import Match, MatchGraphql
from .pagination import graphql_pages, relay, rest_pages
from .template import MATCH_SPECIALS, Template, placeholders

__all__ = ["MATCH_SPECIALS", "Matcher"]

Key = tuple[Any, ...]

# Placeholders a match request can use besides the key fields themselves (one key per
# request): ``keys`` (the chunk's keys) and ``key`` (one key as text).


@dataclass(frozen=True)
class _Spec:
    always: bool
    key_fields: tuple[str, ...]
    id_path: str
    records: str
    batch: int
    keys_as: str
    method: str
    path: Template
    params: Template
    per_key: bool
    pagination: PagingOptions | None
    graphql: MatchGraphql | None
    variables: Template | None


def _spec(options: Match, step_key: tuple[str, ...]) -> _Spec:
    key_fields = options.key_fields or step_key
    if not key_fields:
        raise FatalError("destination.match needs key_fields (or a step key) to match keys")
    graphql = options.graphql
    path = options.path or ("/graphql" if graphql else None)
    if path is None:
        raise FatalError("destination.match has no path; add the lookup path or graphql")
    per_key = bool(placeholders(path))
    return _Spec(
        always=options.when == "always",
        key_fields=key_fields,
        id_path=options.id_path,
        records=options.records,
        batch=1 if per_key else options.batch,
        keys_as=options.keys_as,
        method=options.method.upper(),
        path=Template(path, url=True),
        params=Template(options.params or {}),
        per_key=per_key,
        pagination=options.pagination,
        graphql=graphql,
        variables=Template(graphql.variables or {}) if graphql else None,
    )


def _same(a: Any, b: Any) -> bool:
    # A store may answer "42" for the key 42 (or the reverse): keys match by their text.
    return a == b or str(a) == str(b)


class Matcher:
    """Runs a declared ``match`` for a sink; ``match(keys) -> {key: [dest ids]}``."""

    def __init__(
        self, options: Match, step_key: tuple[str, ...], client: HttpClient,
        pool: Executor,
    ) -> None:
        self._spec = _spec(options, step_key)
        self._client = client
        self._pool = pool
        self.always = self._spec.always

    def match(self, keys: Sequence[Key]) -> dict[Key, list[str]]:
        size = self._spec.batch
        chunks = [list(keys[i : i + size]) for i in range(0, len(keys), size)]
        found: dict[Key, list[str]] = {}
        for chunk, answers in zip(chunks, self._pool.map(self._ask, chunks), strict=True):
            for key in chunk:
                for item_key, dest_id in answers:
                    if len(item_key) == len(key) and all(map(_same, item_key, key)):
                        ids = found.setdefault(tuple(key), [])
                        if dest_id not in ids:
                            ids.append(dest_id)
        return found

    def _context(self, chunk: Sequence[Key]) -> dict[str, Any]:
        spec = self._spec
        if len(spec.key_fields) == 1:
            values: list[Any] = [key[0] for key in chunk]
        else:
            values = [dict(zip(spec.key_fields, key, strict=True)) for key in chunk]
        context: dict[str, Any] = {"keys": values}
        if len(chunk) == 1:
            first = chunk[0]
            context["key"] = first[0] if len(first) == 1 else ",".join(map(str, first))
            context.update(zip(spec.key_fields, first, strict=False))
        return context

    def _ask(self, chunk: Sequence[Key]) -> list[tuple[Key, str]]:
        spec = self._spec
        context = self._context(chunk)
        answers: list[tuple[Key, str]] = []
        for page in self._pages(context):
            for item in page:
                dest_id = get_path(item, spec.id_path, None)
                key = tuple(get_path(item, f) for f in spec.key_fields)
                if dest_id is not None and all(part is not MISSING for part in key):
                    answers.append((key, str(dest_id)))
        return answers

    def _pages(self, context: Mapping[str, Any]) -> Iterator[list[Any]]:
        spec = self._spec
        path = spec.path.render(context)
        if spec.graphql is not None and spec.variables is not None:
            gql = spec.graphql
            return graphql_pages(
                self._client, path=path, records=spec.records, query=gql.document,
                variables=spec.variables.render(context),
                pagination=relay(gql.page_info, gql.cursor_variable))
        params = {
            name: ",".join(map(str, value)) if isinstance(value, list)
            and spec.keys_as == "comma" else value
            for name, value in spec.params.render(context).items()
        }
        if spec.per_key:
            return self._one_key(path, params)
        return rest_pages(
            self._client, method=spec.method, path=path, params=params, body=MISSING,
            records_path=spec.records, pagination=spec.pagination,
        )

    def _one_key(self, path: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        """A lookup by key in the path: 404 is "not there", one object or a list is there."""
        reply = self._client.send(self._spec.method, path, params=params)
        if reply.status == 404:
            return
        if reply.decision not in (Decision.OK, Decision.IGNORE):
            raise FatalError(f"{reply.describe()}; check destination.match")
        found = get_path(reply.json(), self._spec.records)
        if isinstance(found, list):
            yield found
        elif isinstance(found, Mapping):
            yield [found]
