"""compile_step end to end: mappings, lookups, key map, each, nest/flatten, plugins, keys."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import petl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runner.transforms as transforms
from runner.errors import ConfigError, RunFailed
from runner.spec import (
    Compare,
    ConnectorRef,
    CursorSpec,
    Expr,
    FieldMap,
    FlattenSpec,
    KeymapRef,
    LookupRef,
    NestSpec,
    PluginRef,
    Step,
)
from runner.transforms import (
    Rejected,
    Transformed,
    compile_step,
    flatten,
    load_plugin,
    nest,
    petl_plugin,
    split_name,
)


def make_step(mappings: tuple[FieldMap, ...] | None, key: tuple[str, ...] = ("sku",),
              **kwargs: Any) -> Step:
    return Step(name="products", source=ConnectorRef("sql"), destination=ConnectorRef("http"),
                key=key, mappings=mappings, **kwargs)


def run(step: Step, rows: list[dict[str, Any]], **kwargs: Any) -> list[Transformed | Rejected]:
    return list(compile_step(step, **kwargs).apply(rows))


def records(items: list[Transformed | Rejected]) -> list[dict[str, Any]]:
    return [i.record for i in items if isinstance(i, Transformed)]


def reasons(items: list[Transformed | Rejected]) -> list[str]:
    return [i.reason for i in items if isinstance(i, Rejected)]


def test_public_surface_is_pinned() -> None:
    assert sorted(transforms.__all__) == sorted([
        "FUNCTIONS", "TYPES", "CompiledExpression", "CompiledStep", "KeymapResolver", "Plugin",
        "Predicate", "Rejected", "SourceHasher", "SourceKeys", "Transformed", "Unchanged",
        "available_plugins", "compile_expression", "compile_filter", "compile_step",
        "dedupe_by_key", "filter_fields", "flatten", "jsonable", "load_plugin", "nest",
        "petl_plugin", "row_hash", "source_hasher", "source_keys", "split_name",
    ])
    for name in transforms.__all__:
        assert hasattr(transforms, name)


def test_field_const_expr_coalesce_and_conversions() -> None:
    step = make_step((
        FieldMap("sku", field="item_id"),
        FieldMap("title", field="name", max_length=10),
        FieldMap("price", field="list_price", type="decimal", scale=2),
        FieldMap("currency", const="USD", has_const=True),
        FieldMap("gross", expr="round(list_price * 1.25, 2)"),
        FieldMap("label", coalesce=("short", "name")),
        FieldMap("city", field="address.city"),
        FieldMap("qty", field="on_hand", type="int", default="0", has_default=True),
        FieldMap("online", field="flag", type="bool"),
        FieldMap("updated", field="modified", type="datetime", timezone="America/Chicago"),
    ))
    rows = [{"item_id": "A1", "name": "Chair", "list_price": Decimal("10.005"), "short": "",
             "address": {"city": "Oslo"}, "on_hand": None, "flag": "Y",
             "modified": dt.datetime(2024, 1, 15, 6, 0)}]
    [item] = run(step, rows)
    assert isinstance(item, Transformed)
    assert item.record == {
        "sku": "A1", "title": "Chair", "price": Decimal("10.01"), "currency": "USD",
        "gross": Decimal("12.51"), "label": "Chair", "city": "Oslo", "qty": 0, "online": True,
        "updated": dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.UTC),
    }
    assert list(item.record) == [fm.target for fm in step.mappings or ()]  # mapping order kept
    assert item.key == ("A1",)
    assert item.source is rows[0]


def test_missing_source_field_is_null_even_for_plain_copies() -> None:
    step = make_step((FieldMap("sku", field="sku"), FieldMap("a", field="a"),
                      FieldMap("b", field="b")))
    assert records(run(step, [{"sku": "1", "a": 1}])) == [{"sku": "1", "a": 1, "b": None}]


def test_conversion_failures_reject_with_field_value_and_key() -> None:
    step = make_step((FieldMap("sku", field="item_id"),
                      FieldMap("price", field="p", type="decimal", scale=2)))
    items = run(step, [{"item_id": 7, "p": "abc"}, {"item_id": 8, "p": "1"}])
    rejected = items[0]
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "price: 'abc' is not a decimal"
    assert rejected.key == ("7",)
    assert rejected.source == {"item_id": 7, "p": "abc"}
    assert records(items) == [{"sku": 8, "price": Decimal("1.00")}]


def test_required_and_max_length() -> None:
    step = make_step((FieldMap("sku", field="sku", required=True),
                      FieldMap("title", field="t", max_length=3, required=True)))
    items = run(step, [{"sku": "a", "t": "abcd"}, {"sku": "", "t": "ab"}, {"sku": "b", "t": None},
                       {"sku": "c", "t": "abc"}])
    assert reasons(items) == [
        "title: 'abcd' is longer than 3 characters",
        "sku: a value is required",
        "title: a value is required",
    ]
    assert records(items) == [{"sku": "c", "title": "abc"}]


def test_expression_error_quarantines_the_row() -> None:
    step = make_step((FieldMap("sku", field="sku"), FieldMap("total", expr="price * qty")))
    [item] = run(step, [{"sku": "a", "price": 2, "qty": None}])
    assert isinstance(item, Rejected) and "price * qty" in item.reason


def test_bad_mappings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        compile_step(make_step((FieldMap("sku", field="a", expr="b"),)))
    with pytest.raises(ConfigError, match="mapped twice"):
        compile_step(make_step((FieldMap("sku", field="a"), FieldMap("sku", field="b"))))
    with pytest.raises(ConfigError, match="default"):
        compile_step(make_step((FieldMap("sku", field="a", type="int", default="x",
                                         has_default=True),)))
    with pytest.raises(ConfigError, match="unknown function"):
        compile_step(make_step((FieldMap("sku", expr="system('ls')"),)))


# --- lookups ----------------------------------------------------------------------------------

TAX = {1: {"id": 1, "code": "STD"}, 2: {"id": 2, "code": "RED"}}


@pytest.mark.parametrize("policy", ["fail", "null", "quarantine"])
def test_lookup_hits_match_by_value_then_by_text(policy: str) -> None:
    step = make_step((FieldMap("sku", field="sku"),
                      FieldMap("tax", lookup=LookupRef("tax", "tg", "code", policy))))  # type: ignore[arg-type]
    rows = [{"sku": "a", "tg": 1}, {"sku": "b", "tg": "2"}, {"sku": "c", "tg": None}]
    assert records(run(step, rows, lookups={"tax": TAX})) == [
        {"sku": "a", "tax": "STD"}, {"sku": "b", "tax": "RED"}, {"sku": "c", "tax": None}]


def test_lookup_missing_policies() -> None:
    rows = [{"sku": "a", "tg": 9}]

    def with_policy(policy: str) -> Step:
        return make_step((FieldMap("sku", field="sku"),
                          FieldMap("tax", lookup=LookupRef("tax", "tg", "code", policy))))  # type: ignore[arg-type]

    assert records(run(with_policy("null"), rows, lookups={"tax": TAX})) == [
        {"sku": "a", "tax": None}]
    assert reasons(run(with_policy("quarantine"), rows, lookups={"tax": TAX})) == [
        "tax: no row in lookup 'tax' for tg=9"]
    with pytest.raises(RunFailed, match="missing: fail"):
        run(with_policy("fail"), rows, lookups={"tax": TAX})


def test_unknown_lookup_is_config_error_and_unloaded_lookup_fails_the_run() -> None:
    step = make_step((FieldMap("sku", field="sku"),
                      FieldMap("tax", lookup=LookupRef("nope", "tg", "code")),))
    with pytest.raises(ConfigError, match="lookup 'nope' is not defined; defined lookups: tax"):
        compile_step(step, lookups={"tax": TAX})
    compiled = compile_step(step)  # compiling for validation needs no data
    with pytest.raises(RunFailed, match="not loaded"):
        list(compiled.apply([{"sku": "a", "tg": 1}]))


# --- key map ----------------------------------------------------------------------------------


def resolver(calls: list[tuple[Any, ...]]) -> Any:
    ids = {(None, "products", ("P1",)): "gid://1", ("catalog", "products", ("P2",)): "gid://2"}

    def resolve(job: str | None, entity: str, key: tuple[str, ...]) -> str | None:
        calls.append((job, entity, key))
        return ids.get((job, entity, key))

    return resolve


def test_keymap_resolves_and_applies_policies() -> None:
    calls: list[tuple[Any, ...]] = []
    step = make_step((
        FieldMap("sku", field="sku"),
        FieldMap("product_id", keymap=KeymapRef("products", on="product")),
        FieldMap("other", keymap=KeymapRef("products", on="product2", job="catalog",
                                           missing="null")),
    ))
    rows = [{"sku": "v1", "product": "P1", "product2": "P2"},
            {"sku": "v2", "product": "P9", "product2": "P9"}]
    items = run(step, rows, keymap=resolver(calls))
    assert records(items) == [{"sku": "v1", "product_id": "gid://1", "other": "gid://2"}]
    assert reasons(items) == ["product_id: no destination id for 'products' key 'P9' in this job"]
    assert (None, "products", ("P1",)) in calls and ("catalog", "products", ("P2",)) in calls
    fail = make_step((FieldMap("sku", field="sku"),
                      FieldMap("pid", keymap=KeymapRef("products", on="product", missing="fail"))))
    with pytest.raises(RunFailed, match="run the step that writes 'products' first"):
        run(fail, rows[1:], keymap=resolver([]))


def test_keymap_key_is_normalised_to_text() -> None:
    calls: list[tuple[Any, ...]] = []
    step = make_step((FieldMap("sku", field="sku"),
                      FieldMap("pid", keymap=KeymapRef("products", on="product", missing="null"))))
    run(step, [{"sku": "a", "product": 17}], keymap=resolver(calls))
    assert calls == [(None, "products", ("17",))]


# --- each -------------------------------------------------------------------------------------


def test_each_maps_every_item_and_names_the_bad_one() -> None:
    step = make_step((
        FieldMap("sku", field="order_no"),
        FieldMap("items", field="lines", each=(
            FieldMap("sku", field="item"),
            FieldMap("quantity", field="qty", type="int"),
            FieldMap("tax", lookup=LookupRef("tax", "tg", "code", "null")),
        )),
    ))
    rows = [
        {"order_no": "SO1", "lines": [{"item": "a", "qty": "2", "tg": 1}, {"item": "b", "qty": 1}]},
        {"order_no": "SO2", "lines": [{"item": "a", "qty": 1}, {"item": "b", "qty": "x"}]},
        {"order_no": "SO3", "lines": None},
    ]
    items = run(step, rows, lookups={"tax": TAX})
    assert records(items) == [
        {"sku": "SO1", "items": [{"sku": "a", "quantity": 2, "tax": "STD"},
                                 {"sku": "b", "quantity": 1, "tax": None}]},
        {"sku": "SO3", "items": None},
    ]
    assert reasons(items) == ["items[1].quantity: 'x' is not an integer"]


def test_each_of_plain_copies_keeps_order_fills_missing_and_names_the_bad_item() -> None:
    # Items mapped by copies only take a faster path: the same output and errors as the rest.
    step = make_step((
        FieldMap("sku", field="order_no"),
        FieldMap("items", field="lines", each=(
            FieldMap("sku", field="item"), FieldMap("size", field="sz"),
        )),
    ))
    rows = [
        {"order_no": "SO1", "lines": [{"sz": "M", "item": "a"}, {"item": "b"}]},
        {"order_no": "SO2", "lines": [{"item": "a", "sz": "S"}, "not an object"]},
        {"order_no": "SO3", "lines": ({"item": "c", "sz": "L"},)},
    ]
    items = run(step, rows)
    out = records(items)
    assert out == [
        {"sku": "SO1", "items": [{"sku": "a", "size": "M"}, {"sku": "b", "size": None}]},
        {"sku": "SO3", "items": [{"sku": "c", "size": "L"}]},
    ]
    assert [list(item) for item in out[0]["items"]] == [["sku", "size"], ["sku", "size"]]
    assert reasons(items) == ["items[1]: 'not an object' is not an object"]


# --- nest / flatten -----------------------------------------------------------------------------


def test_nest_then_map_builds_documents_from_consecutive_rows() -> None:
    step = make_step(
        (FieldMap("number", field="order_no"), FieldMap("customer", field="cust"),
         FieldMap("lines", field="lines", each=(FieldMap("sku", field="item"),
                                                FieldMap("qty", field="qty", type="int")))),
        key=("number",),
        nest=NestSpec(by=("order_no",), into="lines", fields=("item", "qty")),
    )
    rows = [
        {"order_no": "SO1", "cust": "C1", "item": "a", "qty": 1},
        {"order_no": "SO1", "cust": "C1", "item": "b", "qty": "2"},
        {"order_no": "SO2", "cust": "C2", "item": "a", "qty": 5},
        {"order_no": "SO1", "cust": "C1", "item": "c", "qty": 1},  # not consecutive: new group
    ]
    items = run(step, rows)
    assert records(items) == [
        {"number": "SO1", "customer": "C1",
         "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]},
        {"number": "SO2", "customer": "C2", "lines": [{"sku": "a", "qty": 5}]},
        {"number": "SO1", "customer": "C1", "lines": [{"sku": "c", "qty": 1}]},
    ]
    first = items[0]
    assert isinstance(first, Transformed) and first.source["order_no"] == "SO1"
    compiled = compile_step(step)
    assert {"order_no", "cust", "item", "qty"} <= compiled.required_fields
    assert "lines" not in compiled.required_fields


def test_flatten_with_prefix_and_empty_lists() -> None:
    step = make_step(None, key=("order", "line_sku"), flatten=FlattenSpec("lines", "line_"))
    docs = [{"order": "SO1", "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]},
            {"order": "SO2", "lines": []}, {"order": "SO3", "lines": "oops"}]
    items = run(step, docs)
    assert records(items) == [
        {"order": "SO1", "line_sku": "a", "line_qty": 1},
        {"order": "SO1", "line_sku": "b", "line_qty": 2},
        {"order": "SO2"},
    ]
    assert [i.key for i in items if isinstance(i, Transformed)] == [
        ("SO1", "a"), ("SO1", "b"), ("SO2", "")]
    assert reasons(items) == ["lines: str is not a list to flatten"]
    assert compile_step(step).reads_all_fields


scalars = st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({"k": st.integers(0, 3), "h": scalars,
                                       "a": st.integers(-5, 5), "b": scalars}), max_size=12))
def test_flatten_of_nest_is_identity_on_rows(rows: list[dict[str, Any]]) -> None:
    # Every row carries a line (a is never null); all-null lines are the LEFT JOIN case below.
    # Rows of a group share their header columns (as a join of header and lines does).
    headers: dict[int, Any] = {}
    for row in rows:
        row["h"] = headers.setdefault(row["k"], row["h"])
    spec = NestSpec(by=("k",), into="items", fields=("a", "b"))
    assert list(flatten(nest(rows, spec), FlattenSpec("items"))) == rows


def test_nest_treats_an_all_null_line_as_no_line() -> None:
    # SELECT o.*, l.* FROM orders o LEFT JOIN lines l: an order without lines gives one row
    # whose line columns are null; it must nest to an empty list, not one empty line.
    rows = [{"k": 1, "h": "x", "a": None, "b": None},
            {"k": 2, "h": "y", "a": 1, "b": None},
            {"k": 2, "h": "y", "a": None, "b": "z"}]
    spec = NestSpec(by=("k",), into="items", fields=("a", "b"))
    assert list(nest(rows, spec)) == [
        {"k": 1, "h": "x", "items": []},
        {"k": 2, "h": "y", "items": [{"a": 1, "b": None}, {"a": None, "b": "z"}]},
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "k": st.integers(), "h": scalars,
    "items": st.lists(st.fixed_dictionaries({"a": st.integers(-5, 5), "b": scalars}),
                      min_size=1, max_size=4),
}), max_size=6, unique_by=lambda d: d["k"]))
def test_nest_of_flatten_is_identity_on_documents(docs: list[dict[str, Any]]) -> None:
    spec = NestSpec(by=("k",), into="items", fields=("a", "b"))
    assert list(nest(flatten(docs, FlattenSpec("items")), spec)) == docs


# --- filter, streaming, keys, required fields ---------------------------------------------------


def test_residual_filter_drops_rows_and_expr_errors_quarantine() -> None:
    step = make_step((FieldMap("sku", field="sku"),))
    rows = [{"sku": "a", "on": 1, "q": 1}, {"sku": "b", "on": 0, "q": 1},
            {"sku": "c", "on": True, "q": None}, {"sku": "d", "on": True, "q": 2}]
    items = run(step, rows, residual_filter=Compare("on", "equals", True))
    assert records(items) == [{"sku": "a"}, {"sku": "c"}, {"sku": "d"}]
    items = run(step, rows, residual_filter=Expr("q > 1"))
    assert records(items) == [{"sku": "d"}]
    assert len(reasons(items)) == 1
    assert items[0] == Rejected(rows[2], items[0].reason, ("c",))


def test_apply_is_lazy() -> None:
    pulled: list[int] = []

    def endless() -> Iterator[dict[str, Any]]:
        n = 0
        while True:
            pulled.append(n)
            yield {"sku": f"s{n}", "order": n // 2, "x": n}
            n += 1

    simple = compile_step(make_step((FieldMap("sku", field="sku"),)))
    first = next(iter(simple.apply(endless())))
    assert isinstance(first, Transformed) and pulled == [0]
    pulled.clear()
    nested = compile_step(make_step(None, key=("order",),
                                    nest=NestSpec(("order",), "xs", ("x",)),
                                    transforms=(PluginRef("split_name", {"field": "sku"}),)))
    doc = next(iter(nested.apply(endless())))
    assert isinstance(doc, Transformed) and doc.record["xs"] == [{"x": 0}, {"x": 1}]
    assert len(pulled) == 3  # one group, plus the row that ended it


def test_records_without_a_key_are_rejected() -> None:
    step = make_step((FieldMap("sku", field="sku"), FieldMap("v", field="v")), key=("sku", "v"))
    items = run(step, [{"sku": None, "v": ""}, {"sku": None, "v": 1}])
    assert reasons(items) == ["key sku, v: the record has no value for its key"]
    assert [i.key for i in items if isinstance(i, Transformed)] == [("", "1")]


def test_passthrough_copies_rows() -> None:
    row = {"sku": "a", "n": 1}
    [item] = run(make_step(None), [row])
    assert isinstance(item, Transformed) and item.record == row and item.record is not row
    assert compile_step(make_step(None)).reads_all_fields


def test_required_fields() -> None:
    step = make_step(
        (FieldMap("sku", field="item_id"), FieldMap("city", field="address.city"),
         FieldMap("total", expr="price * qty"), FieldMap("name", coalesce=("short", "long")),
         FieldMap("tax", lookup=LookupRef("tax", "tg", "code")),
         FieldMap("pid", keymap=KeymapRef("products", "product")),
         FieldMap("currency", const="USD", has_const=True), FieldMap("lines", each=())),
        cursor=CursorSpec("modified_at"),
    )
    compiled = compile_step(step, residual_filter=Compare("sell_online", "equals", True))
    assert compiled.required_fields == {
        "item_id", "address", "price", "qty", "short", "long", "tg", "product", "lines",
        "modified_at", "sell_online"}
    assert not compiled.reads_all_fields


# --- plugins ------------------------------------------------------------------------------------


def test_split_name_is_registered_as_an_entry_point() -> None:
    eps = importlib.metadata.entry_points(group="commerce_sync.transforms")
    assert "split_name" in {ep.name for ep in eps}
    assert load_plugin("split_name") is split_name


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [("Ada Lovelace", "Ada", "Lovelace"), ("Ada King  Lovelace", "Ada", "King Lovelace"),
     ("Lovelace, Ada", "Ada", "Lovelace"), ("Cher", "Cher", None), ("  ", None, None),
     (None, None, None)],
)
def test_split_name(name: str | None, first: str | None, last: str | None) -> None:
    [out] = split_name([{"name": name}], {})
    assert out == {"name": name, "first_name": first, "last_name": last}


def test_split_name_options_and_unknown_option() -> None:
    [out] = split_name([{"full": "A B"}], {"field": "full", "first": "f", "last": "l",
                                           "keep": False})
    assert out == {"f": "A", "l": "B"}
    with pytest.raises(ConfigError, match="unknown option"):
        list(split_name([{"name": "x"}], {"fields": "x"}))


def test_plugins_run_after_mapping_and_before_key_extraction() -> None:
    step = make_step(
        (FieldMap("email", field="mail"), FieldMap("name", field="customer")),
        key=("email",), transforms=(PluginRef("split_name", {"keep": False}),),
    )
    rows = [{"mail": "a@x", "customer": "Ada Lovelace"}, {"mail": "b@x", "customer": "Grace"}]
    items = run(step, rows)
    assert records(items) == [{"email": "a@x", "first_name": "Ada", "last_name": "Lovelace"},
                              {"email": "b@x", "first_name": "Grace", "last_name": None}]
    assert [i.source for i in items if isinstance(i, Transformed)] == rows


@petl_plugin
def _top_two_per_brand(table: Any, options: Mapping[str, Any]) -> Any:
    # What a plugin author writes with petl: sort, keep the first N per group, convert.
    ranked = petl.sort(table, ("brand", "price"), reverse=True)
    top = petl.rowreduce(ranked, "brand", lambda key, rows: (
        key, [r["sku"] for r in list(rows)[: options["n"]]]), header=["brand", "skus"])
    return petl.convert(top, "skus", ",".join)


def test_a_petl_plugin_gets_a_petl_table_and_its_table_becomes_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import runner.transforms.compile as compile_module

    monkeypatch.setattr(compile_module, "load_plugin", lambda name: _top_two_per_brand)
    step = make_step(
        (FieldMap("sku", field="sku"), FieldMap("brand", field="brand"),
         FieldMap("price", field="price", type="float")),
        key=("brand",), transforms=(PluginRef("top", {"n": 2}),),
    )
    rows = [{"sku": f"S{i}", "brand": "AB"[i % 2], "price": i} for i in range(6)]
    assert records(run(step, rows)) == [{"brand": "A", "skus": "S4,S2"},
                                        {"brand": "B", "skus": "S5,S3"}]


def test_a_petl_plugin_never_drops_a_field_it_was_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import runner.transforms.compile as compile_module
    import runner.transforms.plugins as plugins_module

    monkeypatch.setattr(plugins_module, "HEADER_SAMPLE", 2)
    monkeypatch.setattr(compile_module, "load_plugin", lambda name: petl_plugin(
        lambda table, options: petl.cut(table, *petl.header(table))))
    step = make_step(None, transforms=(PluginRef("cut"),))
    rows = [{"sku": "a"}, {"sku": "b"}, {"sku": "c", "late": 1}]
    with pytest.raises(RunFailed, match=r"field\(s\) late that the first 2 records lack"):
        run(step, rows)


def test_a_petl_plugin_must_return_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    import runner.transforms.compile as compile_module

    monkeypatch.setattr(compile_module, "load_plugin",
                        lambda name: petl_plugin(lambda table, options: list(petl.dicts(table))))
    with pytest.raises(RunFailed, match="must return a petl table, got list"):
        run(make_step(None, transforms=(PluginRef("bad"),)), [{"sku": "a"}])


def test_unknown_plugin_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown transform plugin 'nope'.*split_name"):
        load_plugin("nope")
    with pytest.raises(ConfigError, match="nope"):
        compile_step(make_step(None, transforms=(PluginRef("nope"),)))


def test_a_crashing_plugin_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(rows: Any, options: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for _row in rows:
            raise ZeroDivisionError("boom")
            yield {}

    import runner.transforms.compile as compile_module

    monkeypatch.setattr(compile_module, "load_plugin", lambda name: broken)
    step = make_step(None, transforms=(PluginRef("broken"),))
    with pytest.raises(RunFailed, match="transform plugin 'broken' failed: ZeroDivisionError"):
        run(step, [{"sku": "a"}])


def _outcomes(items: Iterator[Transformed | Rejected]) -> list[tuple[Any, ...]]:
    return [(type(i).__name__, i.key, i.record if isinstance(i, Transformed) else i.reason,
             dict(i.source)) for i in items]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "k": st.one_of(st.none(), st.integers(0, 3)),
    "meta": st.sampled_from([{"on": True}, {"on": False}, {}]),
    "item": st.one_of(st.none(), st.text(max_size=2)),
    "qty": st.one_of(st.integers(0, 3), st.just("x")),
}), max_size=14))
def test_a_nested_step_takes_the_single_loop_with_the_general_paths_outcomes(
        rows: list[dict[str, Any]]) -> None:
    # Filter failures (a path whose tail is missing), mapping failures (qty "x"), missing
    # keys and dropped rows: each item and its order as the general path gives them.
    step = make_step(
        (FieldMap("number", field="k"),
         FieldMap("lines", field="lines", each=(FieldMap("sku", field="item"),
                                                FieldMap("qty", field="qty", type="int")))),
        key=("number",), nest=NestSpec(by=("k",), into="lines", fields=("item", "qty")))
    compiled = compile_step(step, residual_filter=Compare("meta.on", "equals", True))
    assert _outcomes(compiled.apply(iter(rows))) == _outcomes(
        compiled._apply_general(iter(rows)))
