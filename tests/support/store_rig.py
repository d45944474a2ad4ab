"""The part every "real store" rig shares: a sandbox store on loopback in this process (in a
fault mode such as create-always, so that a create sent twice is visible as two products), a
pipelines folder, and the CLI run as a subprocess through the crash tests' launcher, so that a
test can SIGKILL it between writes. The store is read through its own admin API, never through
the runner.

The rigs built on it (``create_always``: an ERP table of items; ``entity_rig``: a product ->
variants -> stock entity from a JSON-lines export) add only their ERP and their pipelines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.demo.sandbox import FaultConfig, create_app
from tests.support.loopback import serve_app

LAUNCHER = Path(__file__).resolve().parent / "crashing_cli.py"
KILL_ENV = "COMMERCE_SYNC_TEST_KILL_AFTER_WRITES"

# The match of a GraphQL destination by sku, as both rigs' GraphQL pipelines write it (YAML,
# indented for a destination block).
GRAPHQL_MATCH = """\
      match:
        records: data.products.nodes
        key_fields: [sku]
        id_path: id
        batch: 50
        graphql:
          document: |
            query Match($skus: [String!], $after: String) {
              products(skus: $skus, first: 250, after: $after) {
                nodes { id sku } pageInfo { hasNextPage endCursor }
              }
            }
          variables: {skus: "{keys}"}
          page_info: data.products.pageInfo
"""


@dataclass
class StoreRig:
    tmp: Path
    url: str
    api_key: str
    state: Path
    pipelines: Path
    gate: Any  # the sandbox app's Gate: set_faults at run time

    def erp_env(self) -> dict[str, str]:
        """The variables naming this rig's ERP (a subclass's)."""
        return {}

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMERCE_")}
        env.update(self.erp_env())
        env.update(COMMERCE_URL=self.url, COMMERCE_API_KEY=self.api_key,
                   COMMERCE_SYNC_STATE=str(self.state),
                   COMMERCE_SYNC_PIPELINES=str(self.pipelines), PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """``commerce-sync ARGS`` through the launcher (``KILL_ENV`` in ``extra`` arms a kill)."""
        return subprocess.run([sys.executable, str(LAUNCHER), *args], env=self.env(**extra),
                              capture_output=True, text=True, timeout=180, cwd=self.tmp)

    def get(self, path: str, **params: Any) -> Any:
        """A GET of the store's API with this rig's key; raises on an error status."""
        answer = httpx.get(f"{self.url}{path}", params=params,
                           headers={"X-API-Key": self.api_key}, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def product_counts(self) -> dict[str, int]:
        """``{sku: number of products holding it}``, from the store's admin view."""
        return {sku: int(n) for sku, n in self.get("/v1/_admin/keys")["counts"].items()}


@contextmanager
def serve_store(tmp: Path, api_key: str, pipeline_file: str, pipeline: str,
                faults: FaultConfig | None = None) -> Iterator[tuple[str, Any, Path]]:
    """The sandbox on loopback and a pipelines folder holding ``pipeline``: (url, app, folder)."""
    app = create_app(str(tmp / "sandbox.db"), api_key,
                     faults=faults or FaultConfig(create="always"))
    folder = tmp / "pipelines"
    folder.mkdir()
    (folder / pipeline_file).write_text(pipeline, encoding="utf-8")
    with serve_app(app) as url:
        yield url, app, folder
