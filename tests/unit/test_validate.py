"""The validator and builder: what a valid file becomes, and checks golden files do not cover
(broken plugins, secrets, cross-file references, the CLI formats)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import runner.validate as validate
from runner.cli.main import main
from runner.errors import ConfigError
from runner.project import load_project
from runner.spec import All, Compare, Expr, Not
from tests.unit.test_validate_fakes import register_fakes, unregister_fakes

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "valid"

STEP = """version: 1
name: {name}
{extra}steps:
  - name: products
    source: {{connector: memdb, table: products, fields: [item_id, name]}}
    key: sku
    map: {{sku: item_id, title: name}}
    destination: {{connector: memdb, resource: products{dest}}}
"""


@pytest.fixture(autouse=True)
def _fakes() -> Iterator[None]:
    register_fakes()
    yield
    unregister_fakes()


def write(folder: Path, name: str, extra: str = "", dest: str = "") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(STEP.format(name=name, extra=extra, dest=dest), encoding="utf-8")
    return path


def test_valid_file_builds_the_spec() -> None:
    project = load_project([VALID], env={"ERP_DATABASE_URL": "sqlite:///x.db"})
    assert project.errors == []
    job = project.job("inventory")
    assert job.schedule.window is not None
    assert job.schedule.window.start == dt.time(22, 0)
    assert job.max_age_s == 1800.0
    products, variants = job.steps
    assert products.source.options["url"] == "sqlite:///x.db"  # from the connection
    assert products.source.options["table"] == "products"  # the step's own option
    assert products.cursor is not None and products.cursor.lookback_s == 300.0
    assert products.key == ("sku",)
    assert isinstance(products.filter, All)
    first, _, negated, expr = products.filter.items
    assert first == Compare("sell_online", "equals", True)
    assert negated == Not(Compare("name", "null", None))
    assert expr == Expr("on_hand - reserved >= 0")
    maps = {m.target: m for m in products.mappings or ()}
    assert maps["currency"].has_const and maps["currency"].const == "USD"
    assert maps["colour"].has_default and maps["colour"].default == ""
    assert maps["tax_group"].lookup is not None and maps["tax_group"].lookup.missing == "null"
    assert maps["display"].coalesce == ("display_name", "name")
    assert products.errors.retry.max_backoff_s == 60.0
    assert variants.mappings is not None
    assert variants.mappings[2].keymap is not None


def test_in_filters_become_tuples_and_false_null_flips(tmp_path: Path) -> None:
    path = write(tmp_path, "flt").with_suffix(".yaml")
    text = path.read_text().replace(
        "    key: sku\n",
        "    key: sku\n"
        "    filter: {all: [{field: name, in: [a, b]}, {field: name, null: false}]}\n",
    )
    path.write_text(text)
    step = load_project([path], env={}).job("flt").steps[0]
    assert step.filter == All((Compare("name", "in", ("a", "b")), Compare("name", "not_null")))


def test_unknown_job_names_the_closest() -> None:
    project = load_project([VALID], env={})
    with pytest.raises(ConfigError, match="did you mean 'inventory'"):
        project.job("inventroy")


def test_broken_plugin_is_a_located_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(name: str) -> type:
        raise ModuleNotFoundError("No module named 'connectors.memdb_missing'")

    monkeypatch.setattr(validate, "load_connector", explode)
    project = load_project([write(tmp_path, "broken")], env={})
    messages = [(p.line, p.path, p.message) for p in project.errors]
    assert messages[0][:2] == (5, "steps[0].source.connector")
    assert "cannot be loaded: ModuleNotFoundError" in messages[0][2]
    assert project.jobs == {}


def test_secret_option_values_never_appear(tmp_path: Path) -> None:
    secret = "sk_live_0123456789"
    path = write(tmp_path, "sec", dest=", api_key: \"${SHOP_TOKEN}\", timeout: \"${SHOP_TOKEN}\"")
    project = load_project([path], env={"SHOP_TOKEN": secret})
    assert [p.path for p in project.errors] == ["steps[0].destination.timeout"]
    assert all(secret not in str(p) for p in project.problems)


def test_cross_file_checks(tmp_path: Path) -> None:
    write(tmp_path, "base")
    write(tmp_path, "child", extra="depends_on: [base]\n")
    (tmp_path / "all.yaml").write_text("version: 1\nname: all\njobs: [base, child]\nmode: full\n")
    project = load_project([tmp_path], env={})
    assert project.errors == []
    assert sorted(project.jobs) == ["all", "base", "child"]
    assert project.job("all").jobs == ("base", "child")
    assert project.job("all").mode == "full"


def test_keymap_to_another_job(tmp_path: Path) -> None:
    write(tmp_path, "inv")
    other = write(tmp_path, "orders")
    other.write_text(other.read_text().replace(
        "title: name}", "title: name, pid: {keymap: products, on: item_id, job: inv},"
        " bad: {keymap: products, on: item_id, job: nope}}"
    ))
    project = load_project([tmp_path], env={})
    assert [p.path for p in project.errors] == ["steps[0].map.bad.job"]


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    project = load_project([tmp_path / "nope.yaml", tmp_path], env={})
    assert {p.message for p in project.errors} == {
        "no such file or folder", "no *.yaml or *.yml pipeline files here",
    }


def test_cli_validate_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: bad\nsteps: []\n")
    write(tmp_path, "good", dest=", url: \"${UNSET_URL}\"")
    assert main(["validate", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{bad}:3:8: steps: [] should be non-empty",
        f"{tmp_path}/good.yaml:8:62: steps[0].destination.url: warning: environment variable "
        "UNSET_URL is not set; set it, or give a default with ${UNSET_URL:-value}",
    ]
    assert err.strip() == "2 files, 1 error, 1 warning"
    assert main(["validate", "--format", "json", str(tmp_path)]) == 2
    payload = json.loads(capsys.readouterr()[0])
    assert [(p["line"], p["severity"]) for p in payload] == [(3, "error"), (8, "warning")]
    assert main(["validate", "--format", "github", str(bad)]) == 2
    assert capsys.readouterr()[0].startswith(f"::error file={bad},line=3,col=8::steps: ")
    assert main(["validate", "--strict-env", str(tmp_path / "good.yaml")]) == 2
    capsys.readouterr()
    assert main(["validate", str(VALID)]) == 0


def test_cli_connectors_docs_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "connectors.md"
    assert main(["connectors", "docs", "--check", "--output", str(target)]) == 1
    assert main(["connectors", "docs", "--output", str(target)]) == 0
    assert main(["connectors", "docs", "--check", "--output", str(target)]) == 0
    text = target.read_text()
    assert "## memdb" in text and "| `api_key` | string |  |  | yes |" in text
    assert main(["connectors", "list"]) == 0
    listing = capsys.readouterr()[0]
    assert "sinkonly" in listing and "destination" in listing
