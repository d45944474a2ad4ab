"""The aliased document of a GraphQL batch, and how its answer is split per record."""

from __future__ import annotations

import pytest

from connectors.http.graphql_batch import AliasedBatch
from runner.errors import FatalError

DOC = "mutation($in: I!) { make(input: $in) { id } other: note(id: 1) { ok } }"


def test_document_repeats_every_root_field_under_aliases() -> None:
    batch = AliasedBatch(DOC)
    assert batch.document(2) == (
        "mutation ($r0_in: I!, $r1_in: I!) {\n"
        "  r0_make: make(input: $r0_in) {\n    id\n  }\n"
        "  r0_other: note(id: 1) {\n    ok\n  }\n"
        "  r1_make: make(input: $r1_in) {\n    id\n  }\n"
        "  r1_other: note(id: 1) {\n    ok\n  }\n"
        "}"
    )
    assert batch.variables([{"in": 1}, {"in": 2}]) == {"r0_in": 1, "r1_in": 2}


def test_split_gives_each_record_its_fields_and_its_errors() -> None:
    batch = AliasedBatch(DOC)
    body = {"data": {"r0_make": {"id": 7}, "r0_other": {"ok": True}, "r1_make": None,
                     "r1_other": None},
            "errors": [{"message": "bad input", "path": ["r1_make"]},
                       {"message": "server note"}]}
    first, second = batch.split(body, 2)
    assert first == {"data": {"make": {"id": 7}, "other": {"ok": True}},
                     "errors": [{"message": "server note"}]}
    assert second["data"] == {"make": None, "other": None}
    assert [e["message"] for e in second["errors"]] == ["bad input", "server note"]


def test_null_data_leaves_no_record_a_success() -> None:
    answers = AliasedBatch(DOC).split(
        {"data": None, "errors": [{"message": "boom", "path": ["r0_make"]}]}, 2)
    assert answers[0]["errors"] == [{"message": "boom", "path": ["r0_make"]}]
    assert answers[1]["data"] is None
    assert "it may have been written" in answers[1]["errors"][0]["message"]


def test_root_fragments_cannot_be_aliased() -> None:
    with pytest.raises(FatalError, match="select fields at its root"):
        AliasedBatch("mutation { ...F } fragment F on Mutation { make { id } }")
