"""What every end-to-end "world" shares: the reference ERP (a SQLite file from ``create_erp``),
a project loaded with the environment pointing at the ERP and a store, a SQLite state file, and
an HTTP client on the store. Jobs run in-process through ``run_job``; what the tests compare is
read back from the store's API and with plain SQL from the ERP, never from the engine's own view.

The sandbox world (``tests/integration/jobs_harness.py``) and the Medusa world
(``tests/medusa/world.py``) add only how they read their store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.demo.erp import create_erp
from runner.engine import JobResult, StepResult, run_job
from runner.project import Project, load_project
from runner.state import SqlStateStore, open_state


@dataclass
class ErpWorld:
    root: Path
    erp_path: Path
    state_path: Path
    project: Project
    state: SqlStateStore

    def run(self, job: str, *, full: bool = False, expect: str = "succeeded") -> JobResult:
        """Run ``job`` to completion; fail with every step's summary if its outcome is not
        ``expect`` (``partial`` where records are meant to be quarantined). ``full`` forces
        full mode, as ``run --force`` on complete-sync does through its own ``sync: full``."""
        result = run_job(self.project.job(job), project=self.project, state=self.state,
                         mode="full" if full else None)
        if result.status != expect:
            lines = "\n".join(s.summary() for s in result.steps)
            raise AssertionError(f"{job} {result.status}: {result.error}\n{lines}")
        return result

    def lose_state(self) -> None:
        """Close the state store, delete its file (data loss) and open a fresh one."""
        self.state.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.state_path}{suffix}").unlink(missing_ok=True)
        self.state = open_state(f"sqlite:///{self.state_path}")

    def erp(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on the ERP, read with plain sqlite3."""
        with closing(sqlite3.connect(self.erp_path)) as conn, conn:
            return conn.execute(sql, params).fetchall()


@contextmanager
def erp_project(root: Path, pipelines: Path, store_env: Mapping[str, str], *,
                products: int) -> Iterator[tuple[Path, Project, Path, SqlStateStore]]:
    """A fresh ERP of ``products`` products, ``pipelines`` loaded against it and the store
    (``store_env``), and a state store: (erp path, project, state path, state). The caller
    closes the state store it ends with (``lose_state`` replaces it)."""
    erp_path = root / "erp.db"
    create_erp(erp_path, products=products)
    project = load_project([pipelines],
                           env={"ERP_DATABASE_URL": f"sqlite:///{erp_path}", **store_env})
    project.raise_for_errors()
    state_path = root / "state.db"
    yield erp_path, project, state_path, open_state(f"sqlite:///{state_path}")


def step(result: JobResult, name: str) -> StepResult:
    """The one step called ``name`` in a job's result."""
    found = [s for s in result.steps if s.step == name]
    assert len(found) == 1, [s.step for s in result.steps]
    return found[0]
