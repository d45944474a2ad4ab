"""A state store that cannot be written is named, with what to do (issue 11, item 10).

It used to print ``attempt to write a readonly database`` followed by SQLAlchemy's raw SQL
and parameters. Tests run as root, for whom file permissions do not apply, so the store is
opened read-only through SQLite's own ``mode=ro``: the same driver error a user gets.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runner.state import open_state
from tests.acceptance.engine_env import make_shop

CLI = [sys.executable, "-m", "runner"]


@pytest.mark.parametrize(("command", "migrated"), [
    (["run", "products"], True),  # a run's first write fails
    (["history"], False),  # opening it fails: its tables cannot be created
])
def test_a_read_only_state_store_is_named_with_the_fix(
    tmp_path: Path, command: list[str], migrated: bool
) -> None:
    shop = make_shop(tmp_path, items=2)
    if migrated:
        open_state(str(shop.state)).close()
    else:
        sqlite3.connect(shop.state).close()  # an empty database file
    read_only = f"sqlite:///file:{shop.state}?mode=ro&uri=true"
    done = subprocess.run([*CLI, *command, "--state", read_only], cwd=tmp_path,
                          env={**shop.env(), "COMMERCE_SYNC_STATE": read_only},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout
    err = done.stderr
    assert "[SQL:" not in err and "[parameters:" not in err and "sqlalche.me" not in err, err
    assert "Traceback" not in err
    assert str(shop.state) in err
    assert "read-only" in err and "writable" in err and "COMMERCE_SYNC_STATE" in err, err
