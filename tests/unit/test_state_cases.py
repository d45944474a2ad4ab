"""The state store contract, written once and run on every backend.

A test module subclasses :class:`StateContract` and provides a ``store`` fixture: SQLite files
in ``tests/unit/test_state_contract.py``, PostgreSQL in ``tests/integration/test_state_pg.py``.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest

from runner.errors import LockedError, StateError, register_secret
from runner.state import BatchCommit, RunCounts, SqlStateStore

UTC = dt.UTC


def commit(store: SqlStateStore, run_id: int, **kw: Any) -> None:
    kw.setdefault("job", "inventory")
    kw.setdefault("step", "stock")
    kw.setdefault("entity", "product")
    store.commit_batch(BatchCommit(run_id=run_id, **kw))


class StateContract:
    # runs ----------------------------------------------------------------------------------
    def test_runs_newest_first_with_counts_and_outcome(self, store: SqlStateStore) -> None:
        first = store.begin_run("inventory", "", "incremental")
        second = store.begin_run("inventory", "stock", "incremental")
        other = store.begin_run("catalog", "", "full")
        commit(store, second, counts=RunCounts(read=10, written=7, unchanged=2, quarantined=1))
        commit(store, second, counts=RunCounts(read=5, written=5, deleted=3))
        store.finish_run(second, "succeeded")
        store.finish_run(first, "failed", error="boom")

        runs = store.runs("inventory")
        assert [r.run_id for r in runs] == [second, first]
        stock = runs[0]
        assert stock.status == "succeeded" and stock.step == "stock" and stock.mode == "incremental"
        assert stock.counts == RunCounts(read=15, written=12, unchanged=2, deleted=3, quarantined=1)
        assert stock.finished_at is not None and stock.finished_at.tzinfo is not None
        assert stock.finished_at >= stock.started_at
        assert runs[1].error == "boom" and runs[1].status == "failed"
        assert [r.run_id for r in store.runs()] == [other, second, first]
        assert [r.run_id for r in store.runs(limit=1)] == [other]
        assert store.runs("catalog")[0].finished_at is None

    def test_run_error_is_redacted(self, store: SqlStateStore) -> None:
        register_secret("tok-contract-secret-1")
        run = store.begin_run("inventory", "", "full")
        store.finish_run(run, "failed", error="401 with tok-contract-secret-1")
        assert store.runs("inventory")[0].error == "401 with ***"

    def test_finish_unknown_run_is_a_state_error(self, store: SqlStateStore) -> None:
        with pytest.raises(StateError, match="run 999999 does not exist"):
            store.finish_run(999999, "failed")

    # cursors and hashes --------------------------------------------------------------------
    def test_cursor_round_trip_and_unchanged_when_none(self, store: SqlStateStore) -> None:
        run = store.begin_run("inventory", "stock", "incremental")
        assert store.get_cursor("inventory", "stock") is None
        commit(store, run, cursor={"modified": "2024-01-01T00:00:00", "id": 7})
        commit(store, run, cursor=None, hashes={("a",): "h"})
        assert store.get_cursor("inventory", "stock") == {
            "modified": "2024-01-01T00:00:00",
            "id": 7,
        }
        when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        commit(store, run, cursor=[when, Decimal("12.50")])
        assert store.get_cursor("inventory", "stock") == ["2024-05-01T12:30:00+00:00", "12.50"]
        assert store.get_cursor("inventory", "other") is None

    def test_hashes_upsert_lookup_remove_iter(self, store: SqlStateStore) -> None:
        run = store.begin_run("inventory", "stock", "full")
        keys = [(f"SKU-{i:05d}", "WH1") for i in range(1200)]  # more than one IN chunk
        commit(store, run, hashes={k: f"h{i}" for i, k in enumerate(keys)})
        commit(store, run, hashes={keys[0]: "changed"}, removed=[keys[1], ("never", "seen")])

        got = store.get_hashes("inventory", "stock", [*keys, ("missing", "x")])
        assert len(got) == 1199
        assert got[keys[0]] == "changed" and got[keys[2]] == "h2" and keys[1] not in got
        assert store.get_hashes("inventory", "stock", []) == {}
        assert store.get_hashes("inventory", "other", keys[:5]) == {}
        listed = list(store.iter_keys("inventory", "stock"))
        assert listed == sorted(k for k in keys if k != keys[1])
        assert list(store.iter_keys("nobody", "stock")) == []

    def test_commits_while_iterating_keys(self, store: SqlStateStore) -> None:
        # A complete sync walks the stored keys and commits removals as it goes.
        run = store.begin_run("inventory", "stock", "full")
        keys = [(f"K{i:04d}",) for i in range(100)]
        commit(store, run, hashes={k: "h" for k in keys})
        seen = 0
        for key in store.iter_keys("inventory", "stock"):
            seen += 1
            if key[0] < "K0040":
                commit(store, run, removed=[key], counts=RunCounts(deleted=1))
        assert seen == 100
        assert list(store.iter_keys("inventory", "stock")) == keys[40:]
        assert store.runs("inventory")[0].counts.deleted == 40

    def test_keys_with_quotes_and_unicode_round_trip(self, store: SqlStateStore) -> None:
        run = store.begin_run("inventory", "stock", "full")
        odd = ('a"b', "ü,ñ", "[x]")
        commit(store, run, hashes={odd: "h"}, keymap={odd: "dest-1"})
        assert store.get_hashes("inventory", "stock", [odd]) == {odd: "h"}
        assert list(store.iter_keys("inventory", "stock")) == [odd]
        assert store.keymap_get("inventory", "product", [odd]) == {odd: "dest-1"}

    def test_reset_step_forgets_cursor_and_hashes_only(self, store: SqlStateStore) -> None:
        run = store.begin_run("inventory", "stock", "full")
        commit(store, run, cursor=5, hashes={("a",): "1"}, keymap={("a",): "d1"})
        commit(store, run, step="prices", cursor=9, hashes={("a",): "2"})
        store.reset_step("inventory", "stock")
        assert store.get_cursor("inventory", "stock") is None
        assert store.get_hashes("inventory", "stock", [("a",)]) == {}
        assert store.get_cursor("inventory", "prices") == 9
        assert store.keymap_get("inventory", "product", [("a",)]) == {("a",): "d1"}

    # key map -------------------------------------------------------------------------------
    def test_keymap_put_get_delete(self, store: SqlStateStore) -> None:
        store.keymap_put("inventory", "product", {("A",): "1", ("B",): "2"})
        store.keymap_put("inventory", "product", {("A",): "10"})
        store.keymap_put("inventory", "product", {})
        store.keymap_put("inventory", "variant", {("A",): "v1"})
        got = store.keymap_get("inventory", "product", [("A",), ("B",), ("C",)])
        assert got == {("A",): "10", ("B",): "2"}
        assert store.keymap_delete("inventory", "product", [("A",), ("C",)]) == 1
        assert store.keymap_get("inventory", "product", [("A",), ("B",)]) == {("B",): "2"}
        assert store.keymap_get("inventory", "variant", [("A",)]) == {("A",): "v1"}

    def test_abandon_runs_closes_only_that_jobs_running_runs(self, store: SqlStateStore) -> None:
        left = store.begin_run("inventory", "products", "incremental")
        done = store.begin_run("inventory", "stock", "changes")
        store.finish_run(done, "succeeded")
        other = store.begin_run("trade-agreements", "prices", "changes")
        assert store.abandon_runs("inventory") == 1
        assert store.abandon_runs("inventory") == 0
        by_id = {r.run_id: r for r in store.runs()}
        assert by_id[left].status == "failed" and "process ended" in (by_id[left].error or "")
        assert by_id[left].finished_at is not None
        assert by_id[done].status == "succeeded" and by_id[other].status == "running"

    def test_keymap_any_is_per_job_and_entity(self, store: SqlStateStore) -> None:
        assert not store.keymap_any("inventory", "product")
        store.keymap_put("inventory", "variant", {("A",): "v1"})
        store.keymap_put("orders", "product", {("A",): "o1"})
        assert not store.keymap_any("inventory", "product")
        store.keymap_put("inventory", "product", {("A",): "1"})
        assert store.keymap_any("inventory", "product")
        store.keymap_delete("inventory", "product", [("A",)])
        assert not store.keymap_any("inventory", "product")

    def test_removed_keeps_mapping_unmapped_drops_it(self, store: SqlStateStore) -> None:
        run = store.begin_run("inventory", "stock", "full")
        both = {("gone",): "d1", ("hidden",): "d2"}
        commit(store, run, hashes={k: "h" for k in both}, keymap=both)
        commit(store, run, entity="variant", keymap={("gone",): "v1"})
        commit(store, run, removed=[("gone",), ("hidden",)], unmapped=[("gone",), ("nope",)])
        assert store.get_hashes("inventory", "stock", list(both)) == {}
        assert store.keymap_get("inventory", "product", list(both)) == {("hidden",): "d2"}
        assert store.keymap_get("inventory", "variant", [("gone",)]) == {("gone",): "v1"}

    def test_commit_batch_keymap_uses_entity(self, store: SqlStateStore) -> None:
        run = store.begin_run("inventory", "stock", "full")
        commit(store, run, entity="variant", keymap={("X", "red"): "gid://1"})
        assert store.keymap_get("inventory", "variant", [("X", "red")]) == {("X", "red"): "gid://1"}
        assert store.keymap_get("inventory", "product", [("X", "red")]) == {}

    # quarantine ----------------------------------------------------------------------------
    def test_a_committed_write_releases_its_keys_quarantine_entry(
        self, store: SqlStateStore
    ) -> None:
        """Issue 11, item 2: a record fixed at the source and written by the next run stayed
        in quarantine with its old reason."""
        run1 = store.begin_run("inventory", "stock", "incremental")
        commit(store, run1, quarantine=[(("A",), {"p": "abc"}, "not a number"),
                                        (("B",), {"p": "x"}, "not a number"),
                                        (None, {"raw": "?"}, "unreadable")])
        commit(store, run1, step="prices", quarantine=[(("A",), {"p": "abc"}, "bad")])
        run2 = store.begin_run("inventory", "stock", "incremental")
        commit(store, run2, hashes={("A",): "h-a", ("C",): "h-c"},
               quarantine=[(("C",), {"p": "?"}, "refused")])
        left = {(q.step, q.key) for q in store.quarantine_list("inventory")}
        # A is released for this step only; C, written and refused in the same batch (two
        # records of one key), keeps the refusal; B and the keyless record stay.
        assert left == {("stock", ("B",)), ("stock", None), ("stock", ("C",)),
                        ("prices", ("A",))}

    def test_quarantine_bumps_attempts_and_releases(self, store: SqlStateStore) -> None:
        run1 = store.begin_run("inventory", "stock", "full")
        commit(
            store,
            run1,
            quarantine=[
                (("SKU-1",), {"sku": "SKU-1", "qty": "x"}, "qty is not a number"),
                (None, {"raw": "garbage"}, "unreadable"),
            ],
        )
        run2 = store.begin_run("inventory", "stock", "full")
        commit(
            store,
            run2,
            quarantine=[
                (("SKU-1",), {"sku": "SKU-1", "qty": "y"}, "still not a number"),
                (None, {"raw": "garbage"}, "unreadable"),
            ],
        )
        commit(store, run2, step="prices", quarantine=[(("SKU-1",), {"p": Decimal("1.5")}, "r")])

        items = store.quarantine_list("inventory", "stock")
        assert len(items) == 3
        keyed = next(q for q in items if q.key == ("SKU-1",))
        assert keyed.attempts == 2 and keyed.run_id == run2
        assert keyed.record == {"sku": "SKU-1", "qty": "y"}
        assert keyed.reason == "still not a number"
        assert keyed.updated_at >= keyed.created_at
        assert [q.attempts for q in items if q.key is None] == [1, 1]
        assert store.quarantine_list("inventory", "prices")[0].record == {"p": "1.5"}
        assert store.quarantine_count() == 4 and store.quarantine_count("inventory") == 4
        assert store.quarantine_count("catalog") == 0
        assert store.quarantine_list("catalog") == []
        assert len(store.quarantine_list()) == 4

        got = store.quarantine_get(keyed.id)
        assert got == keyed
        assert store.quarantine_get(10**9) is None

        commit(store, run2, released=[keyed.id])
        assert store.quarantine_get(keyed.id) is None
        others = [q.id for q in store.quarantine_list()]
        assert store.quarantine_drop([others[0], 10**9]) == 1
        assert store.quarantine_drop([]) == 0
        assert store.quarantine_count() == 2

    # atomicity -----------------------------------------------------------------------------
    def test_commit_batch_is_all_or_nothing(
        self, store: SqlStateStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        run = store.begin_run("inventory", "stock", "full")
        commit(store, run, cursor=1, hashes={("a",): "old"}, keymap={("m",): "dm"})

        class NotJson:
            pass

        # A record that cannot be serialised fails after cursor, hashes and keymap were written.
        with pytest.raises(StateError, match="JSON-serialisable"):
            commit(
                store,
                run,
                cursor=2,
                hashes={("a",): "new", ("b",): "new"},
                keymap={("a",): "d"},
                quarantine=[(("c",), {"bad": NotJson()}, "r")],
                counts=RunCounts(read=3),
            )

        # And a failure after the last statement but before COMMIT.
        def explode(*_a: Any, **_k: Any) -> None:
            raise RuntimeError("disk on fire")

        real_put = SqlStateStore._quarantine_put

        def put_then_explode(self: SqlStateStore, *a: Any) -> None:
            real_put(self, *a)
            explode()

        monkeypatch.setattr(SqlStateStore, "_quarantine_put", put_then_explode)
        with pytest.raises(RuntimeError, match="disk on fire"):
            commit(
                store,
                run,
                cursor=3,
                hashes={("z",): "z"},
                removed=[("a",)],
                unmapped=[("m",)],
                quarantine=[(("q",), {}, "r")],
            )
        monkeypatch.undo()

        assert store.get_cursor("inventory", "stock") == 1
        assert store.get_hashes("inventory", "stock", [("a",), ("b",), ("z",)]) == {("a",): "old"}
        assert store.keymap_get("inventory", "product", [("a",), ("m",)]) == {("m",): "dm"}
        assert store.quarantine_count() == 0
        assert store.runs("inventory")[0].counts == RunCounts()

    # schedule, claims, triggers ------------------------------------------------------------
    def test_schedule_entries_track_slot_and_outcome(self, store: SqlStateStore) -> None:
        slot = dt.datetime(2024, 1, 1, 3, 0, tzinfo=UTC)
        assert store.schedule_entries() == {}
        store.record_scheduled("inventory", slot)
        entry = store.schedule_entries()["inventory"]
        assert entry.last_scheduled_at == slot and entry.last_status is None

        run = store.begin_run("inventory", "", "incremental")
        store.finish_run(run, "succeeded")
        entry = store.schedule_entries()["inventory"]
        assert entry.last_status == "succeeded" and entry.last_success_at is not None
        assert entry.last_scheduled_at == slot

        later = slot + dt.timedelta(hours=1)
        store.record_scheduled("inventory", later)
        assert store.try_claim("inventory", later, "runner-a", 60)
        store.release_claim("inventory", later, "runner-a", "failed")
        entry = store.schedule_entries()["inventory"]
        assert entry.last_scheduled_at == later and entry.last_status == "failed"
        assert entry.last_success_at is not None  # the earlier success is kept
        assert entry.last_finished_at is not None
        assert entry.last_finished_at >= entry.last_success_at

    def test_a_delivered_key_releases_its_quarantined_record(self, store: SqlStateStore) -> None:
        run1 = store.begin_run("inventory", "stock", "incremental")
        commit(store, run1, quarantine=[(("SKU-1",), {"qty": "x"}, "qty is not a number"),
                                        (("SKU-2",), {"qty": "y"}, "qty is not a number")])
        commit(store, run1, step="prices", quarantine=[(("SKU-1",), {"p": "?"}, "bad price")])
        # The source row was fixed and a later run delivered SKU-1: its record is superseded,
        # in this step only; SKU-2 (not delivered) and the other step's record stay.
        run2 = store.begin_run("inventory", "stock", "incremental")
        commit(store, run2, hashes={("SKU-1",): "h1", ("SKU-3",): "h3"})
        left = {(q.step, q.key) for q in store.quarantine_list("inventory")}
        assert left == {("stock", ("SKU-2",)), ("prices", ("SKU-1",))}

    def test_held_claims_name_the_runner_of_each_running_claim(
        self, store: SqlStateStore
    ) -> None:
        slot = dt.datetime(2024, 1, 1, 3, 0, tzinfo=UTC)
        assert store.held_claims() == []
        assert store.try_claim("inventory", slot, "runner-a", 60)
        assert store.try_claim("catalog", slot, "runner-b", 60)
        assert store.try_claim("prices", slot, "runner-a", 60)
        store.release_claim("prices", slot, "runner-a", "succeeded")
        held = store.held_claims()
        assert [(job, owner) for job, _, owner, _ in held] == [
            ("catalog", "runner-b"), ("inventory", "runner-a")]
        assert all(s == slot and expires > slot for _, s, _, expires in held)

    def test_claim_once_takeover_after_expiry_never_after_finish(
        self, store: SqlStateStore
    ) -> None:
        slot = dt.datetime(2024, 1, 1, 3, 0, tzinfo=UTC)
        assert store.try_claim("inventory", slot, "a", 60) is True
        assert store.try_claim("inventory", slot, "b", 60) is False
        assert store.try_claim("inventory", slot, "a", 60) is False
        assert store.try_claim("inventory", slot + dt.timedelta(minutes=5), "b", 60) is True
        assert store.try_claim("catalog", slot, "b", 60) is True
        assert store.renew_lease("inventory", slot, "a", 60) is True
        assert store.renew_lease("inventory", slot, "b", 60) is False

        # An expired lease (a dead runner) is taken over, and the old owner learns it lost.
        assert store.renew_lease("inventory", slot, "a", -10) is True
        assert store.try_claim("inventory", slot, "b", 60) is True
        assert store.try_claim("inventory", slot, "c", 60) is False
        assert store.renew_lease("inventory", slot, "a", 60) is False
        store.release_claim("inventory", slot, "a", "failed")  # not the owner any more: no-op
        assert store.schedule_entries() == {}

        store.release_claim("inventory", slot, "b", "succeeded")
        assert store.renew_lease("inventory", slot, "b", 60) is False
        slot2 = slot + dt.timedelta(hours=1)
        assert store.try_claim("inventory", slot2, "a", -10) is True
        store.release_claim("inventory", slot2, "a", "succeeded")
        assert store.try_claim("inventory", slot2, "b", 60) is False  # finished: never again

    def test_expired_claims_lists_dead_runners_latest_slot_only(self, store: SqlStateStore) -> None:
        slot = dt.datetime(2024, 1, 1, 3, 0, tzinfo=UTC)
        assert store.expired_claims() == []
        assert store.try_claim("inventory", slot, "dead", -10)
        assert store.try_claim("catalog", slot, "alive", 60)
        assert store.try_claim("prices", slot, "done", -10)
        store.release_claim("prices", slot, "done", "succeeded")
        assert store.expired_claims() == [("inventory", slot)]
        later = slot + dt.timedelta(hours=1)
        assert store.try_claim("inventory", later, "dead", -10)
        assert store.expired_claims() == [("inventory", later)]  # the newer run supersedes

    def test_claim_slot_in_other_timezone_is_the_same_instant(self, store: SqlStateStore) -> None:
        slot = dt.datetime(2024, 1, 1, 3, 0, tzinfo=UTC)
        paris = slot.astimezone(dt.timezone(dt.timedelta(hours=1)))
        assert store.try_claim("inventory", slot, "a", 60)
        assert not store.try_claim("inventory", paris, "b", 60)
        assert store.renew_lease("inventory", paris, "a", 60)

    def test_threads_racing_for_a_slot_one_wins(self, store: SqlStateStore) -> None:
        slot = dt.datetime(2024, 1, 1, 4, 0, tzinfo=UTC)
        results: list[bool] = []
        barrier = threading.Barrier(6)

        def contend(name: str) -> None:
            barrier.wait()
            results.append(store.try_claim("inventory", slot, name, 60))

        threads = [threading.Thread(target=contend, args=(f"t{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False] * 5 + [True]

    def test_triggers_are_taken_once_oldest_first(self, store: SqlStateStore) -> None:
        assert store.take_triggers() == []
        store.request_trigger("reindex", "cli:alice")
        store.request_trigger("inventory", "cli:bob")
        store.request_trigger("reindex", "cli:carol")
        assert store.take_triggers() == ["reindex", "inventory", "reindex"]
        assert store.take_triggers() == []

    # job lock ------------------------------------------------------------------------------
    def test_job_lock_excludes_and_names_the_holder(self, store: SqlStateStore) -> None:
        with store.job_lock("inventory", "cli run"):
            with pytest.raises(LockedError) as err, store.job_lock("inventory", "scheduler"):
                pass
            message = str(err.value)
            assert "job 'inventory' is already running" in message
            assert "cli run" in message and "wait for it or stop it" in message
            with store.job_lock("catalog", "scheduler"):
                pass
        with store.job_lock("inventory", "scheduler"):
            pass

    def test_job_lock_waits_for_release(self, store: SqlStateStore) -> None:
        held = threading.Event()
        release = threading.Event()

        def holder() -> None:
            with store.job_lock("inventory", "first"):
                held.set()
                release.wait(5)

        t = threading.Thread(target=holder)
        t.start()
        assert held.wait(5)
        threading.Timer(0.5, release.set).start()
        with store.job_lock("inventory", "second", wait_s=10):
            assert not t.is_alive() or release.is_set()
        t.join()

    def test_job_lock_released_on_error(self, store: SqlStateStore) -> None:
        with pytest.raises(ValueError), store.job_lock("inventory", "first"):
            raise ValueError("run failed")
        with store.job_lock("inventory", "second"):
            pass

    # parents -------------------------------------------------------------------------------
    def test_relations_are_kept_per_job_and_step_and_follow_a_move(
            self, store: SqlStateStore) -> None:
        store.relations_put("inv", "variants", {("V1",): ("P1",), ("V2",): ("P1",),
                                                ("V3",): ("P2", "x")})
        store.relations_put("inv", "images", {("V1",): ("P9",)})  # another step's child
        assert sorted(store.children_of("inv", "variants", [("P1",)])) == [("V1",), ("V2",)]
        assert store.parents_of("inv", "variants", [("V3",), ("V4",)]) == {("V3",): ("P2", "x")}
        store.relations_put("inv", "variants", {("V2",): ("P2", "x")})  # moved, not added
        assert store.children_of("inv", "variants", [("P1",)]) == [("V1",)]
        assert sorted(store.children_of("inv", "variants", [("P2", "x")])) == [("V2",), ("V3",)]
        assert store.children_of("other", "variants", [("P1",)]) == []
        assert store.parents_of("inv", "images", [("V1",)]) == {("V1",): ("P9",)}

    # echo guards ---------------------------------------------------------------------------
    def test_echo_memory_is_written_used_up_and_bounded(self, store: SqlStateStore) -> None:
        run = store.begin_run("orders", "order-status", "changes")
        a, b = ("ord_1",), ("ord_2",)
        commit(store, run, job="orders", step="order-status", hashes={a: "h1", b: "h2"},
               echoes={a: {"status": "x1", "note": "n1"}, b: {"status": "x2"}})
        found = store.echoes_get("orders", "order-status", [a, b, ("ord_3",)], ["status"])
        assert found == {a: {"status": "x1"}, b: {"status": "x2"}}  # only the fields asked
        assert store.echoes_get("orders", "other-step", [a], ["status"]) == {}

        # A later write of the same key replaces its value: one row per key and field.
        commit(store, run, job="orders", step="order-status", echoes={a: {"status": "x3"}})
        assert store.echoes_get("orders", "order-status", [a], ["status", "note"]) == {
            a: {"status": "x3", "note": "n1"}}
        with store._engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM echoes").scalar()
        assert rows == 3

        # The reading step's commit uses up the fields its guard compared, with its counts.
        reader = store.begin_run("orders", "download-cancellations", "incremental")
        commit(store, reader, job="orders", step="download-cancellations",
               hashes={("s1", "ord_1"): "r1"}, counts=RunCounts(read=1, echoed=1),
               echoes_used=[("orders", "order-status", a, ("status",))])
        assert store.echoes_get("orders", "order-status", [a, b], ["status", "note"]) == {
            a: {"note": "n1"}, b: {"status": "x2"}}
        assert store.runs("orders")[0].counts == RunCounts(read=1, echoed=1)

    def test_echo_memory_commits_with_the_batch_or_not_at_all(self, store: SqlStateStore) -> None:
        run = store.begin_run("orders", "order-status", "changes")
        a = ("ord_1",)
        with pytest.raises(StateError):  # the batch fails: its hashes and memory stay out
            commit(store, run + 1000, job="orders", step="order-status", hashes={a: "h1"},
                   echoes={a: {"status": "x1"}},
                   quarantine=[(None, {"bad": object()}, "unserialisable")])
        assert store.get_hashes("orders", "order-status", [a]) == {}
        assert store.echoes_get("orders", "order-status", [a], ["status"]) == {}
