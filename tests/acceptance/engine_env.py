"""A tiny ERP and shop as two SQLite files, and a helper to run the CLI on them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
# The CLI behind the crash tests' hook (installed by the test side, see crashing_cli.py).
CLI = [sys.executable, str(Path(__file__).resolve().parents[1] / "support" / "crashing_cli.py")]


@dataclass
class Shop:
    tmp: Path

    @property
    def erp(self) -> Path:
        return self.tmp / "erp.db"

    @property
    def shop(self) -> Path:
        return self.tmp / "shop.db"

    @property
    def state(self) -> Path:
        return self.tmp / "state.db"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(ERP_URL=f"sqlite:///{self.erp}", SHOP_URL=f"sqlite:///{self.shop}",
                   COMMERCE_SYNC_STATE=str(self.state), COMMERCE_SYNC_PIPELINES=str(FIXTURES))
        env.pop("COMMERCE_SYNC_TEST_KILL_AFTER_WRITES", None)
        env.update(extra)
        return env

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env(**env), capture_output=True,
                              text=True, timeout=60, cwd=self.tmp)

    def erp_exec(self, sql: str, params: tuple[object, ...] = ()) -> None:
        with sqlite3.connect(self.erp) as conn:
            conn.execute(sql, params)

    def products(self) -> list[tuple[str, str, float]]:
        with sqlite3.connect(self.shop) as conn:
            query = "SELECT sku, title, price FROM shop_products ORDER BY sku"
            return conn.execute(query).fetchall()


def make_shop(tmp: Path, items: int = 10, price_check: bool = False) -> Shop:
    shop = Shop(tmp)
    with sqlite3.connect(shop.erp) as conn:
        conn.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, name TEXT, "
                     "list_price NUMERIC, sell_online INTEGER, modified_at TEXT)")
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?)",
            [(f"I{i:03d}", f"Item {i}", 10 + i + 0.25, 1, f"2024-05-01 10:{i:02d}:00")
             for i in range(items)],
        )
    check = " CHECK (price < 1000)" if price_check else ""
    with sqlite3.connect(shop.shop) as conn:
        conn.execute(f"CREATE TABLE shop_products (sku TEXT PRIMARY KEY, title TEXT NOT NULL, "
                     f"price NUMERIC{check})")
    return shop
