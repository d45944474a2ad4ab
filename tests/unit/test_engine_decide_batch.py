"""The batch-wide shortcuts of the decision and of the write ops (issue 16) answer exactly as
the per-record rules did: the decision of every record (kind, reason, id) for any destination,
stored hashes, key map, blocked, echoed and changed keys; and every idempotency key."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.engine.decide import Destination, _write_kind, decide, write_ops
from runner.engine.intents import HELD
from runner.engine.ops import idempotency_key, idempotency_keys
from runner.transforms import Transformed


def _per_record(fresh: list[tuple[Any, Any, str]], *, stored: dict[Any, str],
                known: dict[Any, str], dest: Destination, rewrite_all: bool,
                blocked: set[Any], echoed: set[Any], changed: set[Any]) -> list[tuple[Any, ...]]:
    """The decisions as the loop before issue 16 made them, one _write_kind per record."""
    out = []
    for key, _, digest in fresh:
        if key in blocked:
            out.append(("skip", key, digest, known.get(key), HELD))
        elif key in echoed:
            out.append(("echoed", key, digest, known.get(key), ""))
        elif not rewrite_all and stored.get(key) == digest and key not in changed:
            out.append(("unchanged", key, digest, known.get(key), ""))
        else:
            kind, reason = _write_kind(key, known, stored, dest.actions)
            out.append((kind, key, digest, known.get(key), reason))
    return out


_keys = st.sampled_from([("a",), ("b",), ("c",), ("d", "1"), ("",)])
_digests = st.sampled_from(["h1", "h2"])


@settings(max_examples=200, deadline=None)
@given(
    fresh_keys=st.lists(st.tuples(_keys, _digests), max_size=8),
    stored=st.dictionaries(_keys, _digests),
    known=st.dictionaries(_keys, st.sampled_from(["id1", "id2"])),
    actions=st.sets(st.sampled_from(["create", "update", "upsert"])),
    rewrite_all=st.booleans(),
    blocked=st.sets(_keys), echoed=st.sets(_keys), changed=st.sets(_keys),
)
def test_decisions_are_the_per_record_rules(
    fresh_keys: list[tuple[Any, str]], stored: dict[Any, str], known: dict[Any, str],
    actions: set[str], rewrite_all: bool, blocked: set[Any], echoed: set[Any],
    changed: set[Any],
) -> None:
    fresh = [(key, Transformed(record={"k": key}, key=key, source={}), digest)
             for key, digest in fresh_keys]
    dest = Destination(frozenset(actions))
    got = decide(fresh, stored=stored, known=known, dest=dest, rewrite_all=rewrite_all,
                 blocked=blocked, echoed=echoed, changed=changed)
    assert [(d.kind, d.key, d.digest, d.dest_id, d.reason) for d in got] == _per_record(
        fresh, stored=stored, known=known, dest=dest, rewrite_all=rewrite_all,
        blocked=blocked, echoed=echoed, changed=changed)
    assert [d.item for d in got] == [item for _, item, _ in fresh]


_text = st.text(alphabet=st.sampled_from(["a", "é", "\x1f", "1", " ", "😀"]), max_size=6)


@settings(max_examples=300, deadline=None)
@given(job=_text, step=_text, key=st.lists(_text, min_size=1, max_size=3).map(tuple),
       row_hash=_text)
def test_idempotency_keys_are_idempotency_key(job: str, step: str, key: tuple[str, ...],
                                              row_hash: str) -> None:
    key_of = idempotency_keys(job, step)
    assert key_of(key, row_hash) == idempotency_key(job, step, key, row_hash)
    assert key_of(key, row_hash) == key_of(key, row_hash)  # the prefix state is not consumed


def test_write_ops_carry_the_decisions() -> None:
    item = Transformed(record={"sku": "A"}, key=("A",), source={})
    decisions = decide([(("A",), item, "h")], stored={}, known={("A",): "7"},
                       dest=Destination(frozenset({"update"})))
    (op,) = write_ops("j", "s")(decisions)
    assert (op.action, op.key, op.record, op.dest_id, op.idempotency_key) == (
        "update", ("A",), {"sku": "A"}, "7", idempotency_key("j", "s", ("A",), "h"))
