"""The YAML loader: marks, the restricted resolver, interpolation, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import interpolate, join_path, load_file, load_text, parent_path
from runner.errors import redact


def test_marks_point_at_values_and_keys() -> None:
    doc = load_text("version: 1\nsteps:\n  - name: a\n    key: [x, y]\n", "p.yaml", env={})
    assert doc.problems == []
    assert doc.locate("steps[0].name") == (3, 11)
    assert doc.locate("steps[0].key[1]") == (4, 14)
    assert doc.locate("steps[0].key", key=True) == (4, 5)
    # A path that was never written falls back to its nearest ancestor.
    assert doc.locate("steps[0].destination.url") == (3, 5)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("true", True),
        ("False", False), ("22:00", "22:00"), ("1:30", "1:30"), ("2024-01-01", "2024-01-01"),
        ("010", "010"), ("0x1F", "0x1F"), ("12", 12), ("-3", -3), ("1.5", 1.5), ("1e3", 1000.0),
        ("~", None), ("null", None), ("", None), ('"true"', "true"),
    ],
)
def test_only_json_like_scalars_are_resolved(text: str, value: object) -> None:
    assert load_text(f"v: {text}\n", "p.yaml", env={}).data == {"v": value}


def test_on_is_an_ordinary_key() -> None:
    assert load_text("on: item_id\n", "p.yaml", env={}).data == {"on": "item_id"}


def test_interpolation_forms() -> None:
    env = {"HOST": "db", "EMPTY": ""}
    assert interpolate("${HOST}:${PORT:-5432}", env) == ("db:5432", [])
    assert interpolate("${EMPTY:-fallback}", env) == ("fallback", [])
    assert interpolate("$${HOST} ${HOST}", env) == ("${HOST} db", [])
    assert interpolate("${MISSING}", env) == ("", [("missing", "MISSING")])
    assert interpolate("${2X}", env)[1] == [("malformed", "${2X}")]
    assert interpolate("${HOST", env)[1] == [("malformed", "${")]


def test_unquoted_whole_value_reference_is_retyped_quoted_is_not() -> None:
    doc = load_text('a: ${N}\nb: "${N}"\nc: ${FLAG}\n', "p.yaml", env={"N": "8", "FLAG": "true"})
    assert doc.data == {"a": 8, "b": "8", "c": True}


def test_missing_variable_is_a_warning_unless_strict() -> None:
    lenient = load_text("url: ${STORE_URL}\n", "p.yaml", env={})
    assert [(p.severity, p.line, p.col, p.path) for p in lenient.problems] == [
        ("warning", 1, 6, "url")
    ]
    strict = load_text("url: ${STORE_URL}\n", "p.yaml", env={}, strict_env=True)
    assert [p.severity for p in strict.problems] == ["error"]


def test_credential_variables_are_registered_as_secrets() -> None:
    load_text("k: ${SHOP_API_KEY}\n", "p.yaml", env={"SHOP_API_KEY": "tok-9f8e7d6c"})
    assert redact("sent tok-9f8e7d6c") == "sent ***"


def test_duplicate_key_is_located_at_the_second() -> None:
    doc = load_text("a: 1\nb:\n  c: 1\n  c: 2\n", "p.yaml", env={})
    (problem,) = doc.problems
    assert (problem.line, problem.col, problem.path) == (4, 3, "b.c")
    assert "first written on line 3" in problem.message


def test_complex_keys_and_tags_are_problems_not_crashes() -> None:
    doc = load_text("? [a, b]\n: 1\nx: !!binary aGk=\ny: !custom 3\n", "p.yaml", env={})
    assert len(doc.problems) == 3
    assert all(p.line > 0 for p in doc.problems)


def test_billion_laughs_is_stopped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    doc = load_text("\n".join(lines) + "\n", "p.yaml", env={})
    assert any("too large" in p.message for p in doc.problems)


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    doc = load_file(tmp_path / "missing.yaml")
    (problem,) = doc.problems
    assert problem.message.startswith("cannot read the file")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: x\n")
    assert load_file(path).data == {"name": "x"}


def test_paths_round_trip() -> None:
    assert join_path("", "steps") == "steps"
    assert join_path("steps", 0) == "steps[0]"
    assert join_path("map", "my field") == 'map["my field"]'
    assert parent_path('steps[0].map["my field"]') == "steps[0].map"
    assert parent_path("steps[0]") == "steps"
    assert parent_path("name") == ""
