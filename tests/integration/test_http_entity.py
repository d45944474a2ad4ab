"""One entity in one step against the sandbox's GraphQL API: a product, its variants (created
inline, their ids taken from the product's answer) and each variant's stock (its own call).

The store runs in create-always mode; the store is read through its admin view, the state
through the state store's own tables, never through the runner's output alone.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.cli.main import main
from tests.support.entity_rig import ACCESSORIES, API_KEY, Rig, product, rig


@pytest.fixture
def r(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    with rig(tmp_path) as made:
        for name, value in made.env().items():
            monkeypatch.setenv(name, value)
        yield made


def cli(*args: str) -> tuple[int, str]:
    """The CLI in this process (a subprocess per run would cost seconds each)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def keymap(r: Rig, entity: str) -> dict[str, str]:
    with sqlite3.connect(r.state) as conn:
        rows = conn.execute("SELECT key, dest_id FROM keymap WHERE job = 'catalog' AND "
                            "entity = ?", (entity,)).fetchall()
    return {key: dest_id for key, dest_id in rows}


def ok(*args: str) -> str:
    code, out = cli("run", "catalog", *args)
    assert code == 0, out
    return out


def test_three_levels_in_one_step_then_nothing_then_only_what_changed(r: Rig) -> None:
    r.put(*(product(n) for n in range(5)))
    assert cli("validate")[0] == 0
    first = ok()
    # 5 product creates (variants inside them) + 15 stock calls.
    assert "written 20 (created 5, updated 0, upserted 15)" in first, first
    assert r.product_counts() == {f"P{n:04d}": 1 for n in range(5)}
    assert r.stock() == r.expected_stock()
    products = keymap(r, "products")
    assert len(products) == 5 and all(v.startswith("prd_") for v in products.values())
    assert len(keymap(r, "variants")) == 15 and len(keymap(r, "stock")) == 15

    again = ok()
    assert "written 0" in again and "unchanged 5" in again, again

    # One variant's stock changes: only that stock call (the product's own call does not
    # send the variants list, whose stock goes in calls of its own).
    changed = product(3)
    changed["variants"][1]["available"] = 999
    r.put(changed)
    third = ok()
    assert "written 1 (created 0, updated 0, upserted 1)" in third, third
    assert r.stock()["P0003-M"] == 999 and r.stock() == r.expected_stock()

    # The product's own field changes: only the product's update.
    changed["title"] = "renamed"
    r.put(changed)
    fourth = ok()
    assert "written 1 (created 0, updated 1)" in fourth, fourth
    assert r.product_counts() == {f"P{n:04d}": 1 for n in range(5)}
    assert keymap(r, "products") == products
    assert "written 0" in ok()


def test_a_refused_child_quarantines_its_record_and_the_next_run_completes_it(r: Rig) -> None:
    broken = product(1)
    del broken["variants"][2]["location"]  # the stock call cannot be rendered
    r.put(product(0), broken)
    code, out = cli("run", "catalog")
    assert code == 3, out  # partial
    assert "quarantined 1" in out, out
    code, listed = cli("quarantine", "list", "--job", "catalog")
    assert "variants.stock P0001-L" in listed, listed
    # The entity is not whole: its record has no hash, so the fixed record is decided again;
    # its own part is as acknowledged, so only the missing stock call is made.
    r.put(product(1))
    fixed = ok()
    assert "written 1 (created 0, updated 0, upserted 1)" in fixed, fixed
    assert r.product_counts() == {"P0000": 1, "P0001": 1}
    assert r.stock() == r.expected_stock()


def test_quarantine_retry_sends_the_whole_entity_and_keeps_it_held_until_whole(r: Rig) -> None:
    broken = product(2)
    del broken["variants"][0]["location"]
    r.put(broken)
    assert cli("run", "catalog")[0] == 3
    # A jsonl source cannot be re-read by key: the retry sends the stored record again. Its
    # product is written, but its stock call still cannot be made, so it is not released.
    code, out = cli("quarantine", "retry", "--all", "--job", "catalog")
    assert code != 0 and "released 0, still quarantined 1" in out, out
    assert "variants.stock P0002-S" in cli("quarantine", "list", "--job", "catalog")[1]
    r.put(product(2))  # fixed at the source: the next run completes the entity
    assert "written 1 (created 0, updated 0, upserted 1)" in ok()
    assert r.stock() == r.expected_stock()
    assert r.product_counts() == {"P0002": 1}


def test_a_level_of_its_own_creates_uses_the_parents_id_and_keeps_its_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with rig(tmp_path, ACCESSORIES) as r:
        for name, value in r.env().items():
            monkeypatch.setenv(name, value)
        r.put(product(0), product(1))
        assert "written 6 (created 6, updated 0)" in ok()
        parents = keymap(r, "products")
        accessories = keymap(r, "accessories")
        assert sorted(accessories) == ['["A0000-0"]', '["A0000-1"]', '["A0001-0"]',
                                       '["A0001-1"]']
        listed = httpx.get(f"{r.url}/v1/products", params={"limit": 100},
                           headers={"X-API-Key": API_KEY}).json()["data"]
        titles = {p["sku"]: p["title"] for p in listed}
        parent_id = parents['["P0001"]']
        assert titles["A0001-1"] == f"accessory 1 of 1 for {parent_id}"
        made = {p["id"] for p in listed if p["sku"].startswith("A")}
        assert made == set(accessories.values())
        assert "written 0" in ok()

        # A lost state store: the complete run re-learns the products from the listing and
        # asks the level's own match before creating an accessory: nothing is created twice.
        r.state.unlink()
        full = ok("--full")
        assert "created 0" in full, full
        assert r.product_counts() == {sku: 1 for sku in r.expected_skus(accessories=True)}
        assert keymap(r, "accessories") == accessories
