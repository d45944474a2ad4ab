"""``validate`` asks each connector (``Connector.check``) what it would refuse at open time, and
locates each answer at the line the option was written on (the step or its connection)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.api import (
    CheckContext,
    Connector,
    OptionProblem,
    register_connector,
    unregister_connector,
)
from runner.cli.main import main

SEEN: list[CheckContext] = []


class TemplateConnector(Connector):
    """A destination whose ``body`` names record fields, like a request template."""

    name: ClassVar[str] = "templ"
    description: ClassVar[str] = "Test double: a destination with a template."
    destination_options: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "upsert": {"type": "object", "description": "The request.",
                       "properties": {"body": {"type": "string", "description": "Fields."}}},
        },
    }
    source_options: ClassVar[dict[str, Any]] = {
        "type": "object", "additionalProperties": False,
        "properties": {"fields": {"type": "array", "items": {"type": "string"},
                                  "description": "Fields."}},
    }

    def check(self, options: Mapping[str, Any], ctx: CheckContext) -> list[OptionProblem]:
        SEEN.append(ctx)
        if ctx.role != "destination" or ctx.fields is None:
            return []
        body = str((options.get("upsert") or {}).get("body", ""))
        return [OptionProblem("upsert.body", f"placeholder {{{name}}} is not a field of the "
                                             f"record; it has: {', '.join(sorted(ctx.fields))}")
                for name in body.split() if name not in ctx.fields]


@pytest.fixture(autouse=True)
def _templ() -> Iterator[None]:
    register_connector(TemplateConnector)
    SEEN.clear()
    yield
    unregister_connector("templ")


PIPELINE = """version: 1
name: carriers
connections:
  shop:
    connector: templ
    upsert:
      body: code carier
steps:
  - name: modes
    source: {connector: templ, fields: [mode_code, carrier]}
    key: code
    map: {code: mode_code, carrier: carrier}
    destination: {connection: shop}
"""


def test_connector_check_is_located_and_fails_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "carriers.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    # The body was written in the connection (line 7), not in the step: the error points there.
    assert f"{path}:7:13: connections.shop.upsert.body: " in out
    assert "placeholder {carier} is not a field of the record; it has: carrier, code" in out
    destination = [c for c in SEEN if c.role == "destination"]
    assert destination and destination[0].key_fields == ("code",)
    assert [c.fields for c in SEEN if c.role == "source"] == [frozenset({"mode_code", "carrier"})]


def test_a_correct_template_passes(tmp_path: Path) -> None:
    path = tmp_path / "carriers.yaml"
    path.write_text(PIPELINE.replace("carier", "carrier"), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
