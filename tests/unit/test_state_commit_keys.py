"""A batch's keys are encoded once for its hashes and its key map (issue 16): the rows stored
are exactly ``encode_key`` of each key, whichever of the two maps holds it, and each id lands
under its own key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.state import BatchCommit, RunCounts, StateStore, open_state
from runner.state.codec import encode_key
from runner.state.schema import keymap


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute(sql).fetchall())


@pytest.fixture(params=[None, 7, 5], ids=["one-statement", "two-rows-a-statement", "one-row"])
def upserting(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A store at tmp_path/state.db upserting a batch as multi-row statements: as many rows
    as SQLite takes parameters for in one (its own limit), or, with a limit of 7 or 5
    parameters, two rows (the job and step bound once, then two columns a row) or one row a
    statement: all must store the same rows."""
    store = open_state(str(tmp_path / "state.db"))
    store._sqlite_params = request.param  # type: ignore[attr-defined]
    try:
        yield store
        asked = store._sqlite_params  # type: ignore[attr-defined]
        assert asked == request.param if request.param else asked >= 999  # SQLite's own limit
    finally:
        store.close()


def test_hashes_and_ids_are_stored_under_their_own_keys(tmp_path: Path,
                                                        upserting: StateStore) -> None:
    path, store = tmp_path / "state.db", upserting
    run = store.begin_run("j", "s", "full")
    hashes: dict[Any, str] = {("A",): "ha", ("b", "2"): "hb", (7,): "h7", ('q"\\é',): "hq"}
    # ids: some keys of the hashes, in another order, and one that is not among them
    ids: dict[Any, Any] = {(7,): 70, ("A",): "id-a", ("C",): "id-c"}
    store.commit_batch(BatchCommit(run_id=run, job="j", step="s", entity="e",
                                   hashes=hashes, keymap=ids,
                                   source_hashes={("A",): "sa", ("Z",): "sz"}))
    # only ids of keys among the hashes: the encoded keys are reused
    store.commit_batch(BatchCommit(run_id=run, job="j", step="s", entity="e",
                                   hashes={("D",): "hd", ("E",): "he"},
                                   keymap={("E",): "id-e"}))
    assert _rows(path, "SELECT key, hash, source_hash FROM row_hashes") == sorted(
        [(encode_key(("A",)), "ha", "sa"), (encode_key(("b", "2")), "hb", None),
         (encode_key(("7",)), "h7", None), (encode_key(('q"\\é',)), "hq", None),
         (encode_key(("D",)), "hd", None), (encode_key(("E",)), "he", None)])
    assert _rows(path, "SELECT key, dest_id FROM keymap") == sorted(
        [(encode_key(("7",)), "70"), (encode_key(("A",)), "id-a"),
         (encode_key(("C",)), "id-c"), (encode_key(("E",)), "id-e")])


def test_every_count_lands_in_its_own_column(tmp_path: Path) -> None:
    """The per-batch run update (driver SQL on SQLite) adds each count to its own column, and
    a zero leaves its column alone."""
    store = open_state(str(tmp_path / "state.db"))
    try:
        run = store.begin_run("j", "s", "full")
        for counts in (RunCounts(read=1, written=2, unchanged=3, deleted=4, quarantined=5,
                                 echoed=6),
                       RunCounts(read=10, echoed=60), RunCounts()):
            store.commit_batch(BatchCommit(run_id=run, job="j", step="s", entity="e",
                                           counts=counts))
        other = store.begin_run("j", "t", "full")
        assert store.runs("j")[1].counts == RunCounts(read=11, written=2, unchanged=3,
                                                      deleted=4, quarantined=5, echoed=66)
        assert store.runs("j")[0].run_id == other
        assert store.runs("j")[0].counts == RunCounts()
    finally:
        store.close()


def test_of_two_rows_with_one_key_in_a_batch_the_last_wins(tmp_path: Path,
                                                           upserting: StateStore) -> None:
    path, store = tmp_path / "state.db", upserting
    store.keymap_put("j", "e", {("A",): "old-a", ("B",): "b"})
    with store._write() as conn:  # type: ignore[attr-defined]
        store._bulk_upsert(  # type: ignore[attr-defined]
            conn, keymap, ("job", "entity", "key"), ("dest_id",), ("j", "e"),
            [(encode_key(("A",)), "a1"), (encode_key(("A",)), "a2"), (encode_key(("C",)), "c"),
             (encode_key(("A",)), "a3")])  # one statement of four rows, or several
    assert _rows(path, "SELECT key, dest_id FROM keymap") == sorted(
        [(encode_key(("A",)), "a3"), (encode_key(("B",)), "b"), (encode_key(("C",)), "c")])


def test_batches_of_every_size_share_a_few_statements(tmp_path: Path) -> None:
    """A long-lived process commits batches of any size (a changes run writes what changed):
    they are cut into statements of a few row counts, so it prepares and keeps a handful."""
    path = tmp_path / "state.db"
    store = open_state(str(path))
    try:
        run = store.begin_run("j", "s", "changes")
        written = 0
        for size in range(1, 200):
            keys = [(f"k{written + i}",) for i in range(size)]
            written += size
            store.commit_batch(BatchCommit(run_id=run, job="j", step="s", entity="e",
                                           hashes={k: "h" for k in keys},
                                           keymap={k: f"id-{k[0]}" for k in keys}))
        kept = store._bulk_sql  # type: ignore[attr-defined]
        assert {table for table, _ in kept} == {"row_hashes", "keymap"}
        assert {rows for _, rows in kept} <= {128, 64, 32, 16, 8, 4, 2, 1}
    finally:
        store.close()
    assert _rows(path, "SELECT count(*) FROM row_hashes") == [(written,)]
    assert _rows(path, "SELECT count(*), count(DISTINCT dest_id) FROM keymap") == [
        (written, written)]
