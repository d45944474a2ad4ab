"""Start-up stays quick: `--help` and `validate` do not import what they do not use (issue 16).

Timing is measured by tests/benchmarks/run.py; here the cause is pinned instead, because a
single top-level import of SQLAlchemy, httpx or jsonschema in a CLI path costs 0.05-0.2 s on
every start and would otherwise come back unnoticed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.pipelines import copy_pipeline

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import contextlib, io, sys
from runner.cli.main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(code)
print(" ".join(sorted(name for name in sys.modules if "." not in name)))
"""

HEAVY = ("sqlalchemy", "httpx", "starlette", "uvicorn", "prometheus_client", "petl")


def loaded_by(*argv: str) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )  # fmt: skip
    code, modules = done.stdout.splitlines()[-2:]
    return code, set(modules.split())


def test_help_imports_no_connector_library_nor_validator() -> None:
    code, modules = loaded_by("--help")
    assert code == "0"
    assert not modules & {*HEAVY, "jsonschema", "croniter", "yaml"}, sorted(modules)


@pytest.mark.parametrize("argv", [("validate", "pipelines"), ("connectors", "list")])
def test_validate_and_connectors_list_load_no_database_or_http_library(
    argv: tuple[str, ...],
) -> None:
    code, modules = loaded_by(*argv)
    assert code == "0"
    assert "yaml" in modules or argv[0] != "validate"  # the probe did read the pipelines
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_validate_imports_jsonschema_only_for_a_file_with_errors() -> None:
    # Valid files fit their schemas by runner.schema_fit's walk; jsonschema (~70 ms of
    # imports) writes the messages when there is something to say. The shipped schedules
    # are plain cron expressions, which runner.cron_check reads without croniter.
    code, modules = loaded_by("validate", "pipelines")
    assert code == "0"
    assert not modules & {"jsonschema", "croniter"}, sorted(modules & {"jsonschema", "croniter"})
    code, modules = loaded_by("validate", "tests/fixtures/invalid/unknown_key_envelope.yaml")
    assert (code, "jsonschema" in modules) == ("2", True)


def test_migrate_check_imports_no_validator() -> None:
    # migrate reads YAML and splices SQL; the JSON Schemas are validate's (runner.lang_v2
    # imports runner.schema_check only where it checks a project.yaml).
    code, modules = loaded_by("migrate", "--check", "pipelines")
    assert code == "0"
    assert not modules & {*HEAVY, "jsonschema"}, sorted(modules & {*HEAVY, "jsonschema"})


SINK_PROBE = """
import sys
from connectors.api import ConnectorContext
from connectors.http import HttpConnector
options = {"base_url": "http://127.0.0.1:9", "upsert": {"path": "/v1/products/batch",
           "body": "{record}", "batch": {"size": 2, "body": {"records": "{records}"}}}}
if sys.argv[1] == "graphql":
    options = {"base_url": "http://127.0.0.1:9", "upsert": {"graphql": {
        "document": "mutation($p: ProductInput!) { productSet(input: $p) { product { id } } }",
        "variables": {"p": "{record}"}}, "batch": {"size": 2}}}
HttpConnector().open_sink(options, ConnectorContext(job="j", step="s", key_fields=("sku",))).close()
print("graphql" in sys.modules, "jsonschema" in sys.modules)
"""


@pytest.mark.parametrize(("kind", "loaded"), [("rest", "False"), ("graphql", "True")])
def test_a_rest_destination_does_not_import_graphql_core(kind: str, loaded: str) -> None:
    # graphql-core costs ~0.1 s of every run's start; only a GraphQL destination needs it.
    done = subprocess.run([sys.executable, "-c", SINK_PROBE, kind], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2] == loaded


@pytest.mark.parametrize("kind", ["rest", "graphql"])
def test_valid_destination_options_are_checked_without_jsonschema(kind: str) -> None:
    # Options that fit their schema (runner.schema_fit) open without importing jsonschema
    # (~50 ms of every run); invalid ones are still described by it (test_http_connector).
    done = subprocess.run([sys.executable, "-c", SINK_PROBE, kind], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "False"


def test_a_run_imports_neither_the_quarantine_retry_nor_jsonschema(tmp_path: Path) -> None:
    # A run needs the engine's run path only: retrying quarantined records is the quarantine
    # command's, and valid options need no jsonschema (runner.schema_fit).
    (tmp_path / "in.jsonl").write_text('{"sku": "A"}\n')
    pipeline = tmp_path / "copy.yaml"
    pipeline.write_text(copy_pipeline(tmp_path / "in.jsonl", tmp_path / "out.jsonl"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE.replace('if "." not in name', "if True"), "run", "copy",
         "--pipelines", str(pipeline), "--state", str(tmp_path / "state.db")],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )  # fmt: skip
    code, modules = done.stdout.splitlines()[-2:]
    loaded = set(modules.split())
    assert code == "0", done.stdout + done.stderr
    assert "runner.engine.step" in loaded  # the probe did run the job
    assert (tmp_path / "out.jsonl").read_text().strip() == '{"sku":"A"}'
    assert not loaded & {"jsonschema", "runner.engine.quarantine", "runner.engine.reread"}


EXIT_PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))  # runs after main's hook
from runner.cli.main import main
code = main(["connectors", "list"])
print("exit", code)
"""


def test_the_heap_is_frozen_before_the_interpreter_exits() -> None:
    # The exit's collections walked every object alive (~0.15 s of a run with SQLAlchemy and
    # httpx loaded); main freezes the heap first, once, however often it ran.
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)
    assert done.stdout.splitlines()[-2:] == ["exit 0", "frozen True"], done.stdout


GC_PROBE = """
import gc, sys
from runner.cli.main import main
code = main(sys.argv[1:])
print(code, gc.isenabled(), gc.get_freeze_count())
"""


def test_a_run_gives_the_collector_back_as_it_found_it(tmp_path: Path) -> None:
    # run pauses the collector while the engine and the pipelines load, and freezes what they
    # leave (~35 ms of collections at every start); a caller gets both back when it returns.
    (tmp_path / "in.jsonl").write_text('{"sku": "A"}\n')
    pipeline = tmp_path / "copy.yaml"
    pipeline.write_text(copy_pipeline(tmp_path / "in.jsonl", tmp_path / "out.jsonl"))
    argv = ["run", "copy", "--pipelines", str(pipeline), "--state", str(tmp_path / "state.db")]
    done = subprocess.run([sys.executable, "-c", GC_PROBE, *argv], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "0 True 0", done.stdout + done.stderr
    broken = [*argv[:3], str(tmp_path / "missing.yaml"), *argv[4:]]
    done = subprocess.run([sys.executable, "-c", GC_PROBE, *broken], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "2 True 0", done.stdout + done.stderr


HTTPX_PROBE = """
import sys
from connectors.http.client import HttpClient
import httpx
print(" ".join(sorted(n for n in ("click", "rich", "pygments") if n in sys.modules)) or "-")
print(httpx.Client.__name__)
"""


def test_the_http_client_leaves_httpxs_command_line_out() -> None:
    # httpx imports its command line (click, rich, pygments: ~25 ms) whenever click is
    # installed, which uvicorn makes it here; a run's HTTP client never calls it.
    import importlib.util

    if importlib.util.find_spec("click") is None:
        pytest.skip("click is not installed: httpx would leave its command line out anyway")
    done = subprocess.run([sys.executable, "-c", HTTPX_PROBE], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["-", "Client"], done.stdout
