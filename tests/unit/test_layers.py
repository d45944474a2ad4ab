"""The one-way dependency rule, pinned by walking every import of runner/ and connectors/:
cli -> scheduler -> engine -> {connectors, state, transforms} -> {spec, errors}."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("runner", "connectors")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Project modules imported by ``path`` (absolute and relative imports, any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in PROJECT)
    return found


def _modules() -> dict[str, set[str]]:
    return {
        _module_name(path): _imports(path)
        for top in PROJECT
        for path in sorted((ROOT / top).rglob("*.py"))
    }


MODULES = _modules()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offences(module_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in MODULES.items()
        if _within(module, module_prefix)
        for target in targets
        if any(_within(target, f) for f in forbidden)
    )


def test_the_walk_sees_the_project() -> None:
    assert "runner.cli.main" in MODULES
    assert "runner.errors" in MODULES["runner.cli.main"]
    assert "connectors.api" in MODULES


def test_connectors_import_only_the_connector_api_errors_and_spec() -> None:
    allowed = ("connectors", "runner.errors", "runner.spec", "runner.paths", "runner.schema_fit")
    offences = sorted(
        f"{module} imports {target}"
        for module, targets in MODULES.items()
        if _within(module, "connectors")
        for target in targets
        if not any(_within(target, a) for a in allowed)
        and target != "runner"  # `from runner import errors` names the package itself
    )
    assert offences == []


# runner.schema_fit sits beside the contracts: the connectors check their options with it at
# run time and `validate` checks files with it, so it may import nothing of the project.
@pytest.mark.parametrize("module", ["runner.spec", "runner.errors", "runner.schema_fit"])
def test_contracts_import_no_other_project_module(module: str) -> None:
    assert {t for t in MODULES[module] if t != module} == set()


def test_paths_sit_beside_the_contracts() -> None:
    # One path syntax for the language and the connectors: it may lean on the errors only.
    assert {t for t in MODULES["runner.paths"] if not _within(t, "runner.errors")} == set()
    assert "runner.paths" in MODULES["connectors.api"]
    assert not any("template" in t for t in MODULES["connectors.http.read_check"])


@pytest.mark.parametrize("layer", ["runner.engine", "runner.state", "runner.transforms"])
def test_lower_layers_never_import_cli_or_scheduler(layer: str) -> None:
    assert _offences(layer, ("runner.cli", "runner.scheduler")) == []


def test_scheduler_never_imports_cli() -> None:
    assert _offences("runner.scheduler", ("runner.cli",)) == []


def test_loading_and_validation_never_import_the_runtime() -> None:
    # validate must work with no network and no database: it stays below the engine.
    for module in ("runner.config", "runner.build", "runner.validate", "runner.project"):
        assert _offences(module, ("runner.cli", "runner.scheduler", "runner.engine",
                                  "runner.state")) == []


def test_the_console_sits_between_cli_and_scheduler() -> None:
    # cli -> console -> scheduler -> engine: nothing below reaches up into the console.
    for layer in ("runner.scheduler", "runner.engine", "runner.state", "runner.transforms"):
        assert _offences(layer, ("runner.console",)) == []
    assert _offences("runner.console", ("runner.cli",)) == []
    assert "runner.scheduler.status" in MODULES["runner.console.views"]
