"""The reference ERP: create its SQLite schema and fill it with deterministic demo data.

The schema (``erp_schema.sql``, documented there) follows the Dynamics AX 2012 entities that
Commerce Services synchronized. :func:`create_erp` fills it from one seeded random generator, so
the same ``products`` and ``seed`` always give the same rows; it is fast enough for benchmark
catalogues (a million products in seconds, see the generation test) because rows are produced
by generators in chunks and written with ``executemany`` in one transaction, with the journal
and fsync off during the load.

Shape of the data, per product on average:

- 10% of products (item groups Clothing and Shoes) have size/colour variants, 1 to 5 each
  (3 on average), so a catalogue of N products has about 0.3 N variants;
- one on-hand row per sellable SKU (the item for items without variants, else each variant)
  in the main warehouse, and a second row in the west warehouse for 20% of them;
- ``sell_online_ratio`` of the products are selected to sell online;
- trade agreements: a wholesale quantity price for 5% of products, a customer-specific price
  for 1%, and per-group line discounts plus one total discount;
- no sales orders: those come from the store.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "erp.db")
>>> create_erp(path, products=10, seed=1)
>>> with connect(path) as conn:
...     conn.execute("SELECT count(*) FROM products").fetchone()[0]
10
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from importlib import resources
from pathlib import Path
from typing import Any

from runner.errors import ConfigError

__all__ = [
    "SCHEMA_FILE",
    "connect",
    "create_erp",
    "erp_now",
    "record_shipment",
    "set_sell_online",
]

log = logging.getLogger(__name__)

SCHEMA_FILE = "erp_schema.sql"
CHUNK = 20_000

# Generated history ends here, so that a seed alone fixes every row. Rows edited later get the
# real time from the triggers, which is always after this.
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_HISTORY_DAYS = 365

_TAX_GROUPS = [
    ("FULL", "Standard rate", 0.0825),
    ("REDUCED", "Reduced rate (books, children's items)", 0.05),
    ("FOOD", "Food and groceries", 0.02),
    ("EXEMPT", "Exempt", 0.0),
]
# code, name, size, colour, style, configuration, site, warehouse, location, batch, serial
_DIMENSION_GROUPS = [
    ("STANDARD", "No product dimensions", 0, 0, 0, 0, 1, 1, 0, 0, 0),
    ("SIZE_COLOUR", "Size and colour variants", 1, 1, 0, 0, 1, 1, 1, 0, 0),
    ("SERIAL", "Serial-number tracked", 0, 0, 0, 0, 1, 1, 1, 0, 1),
    ("BATCH", "Batch tracked", 0, 0, 0, 0, 1, 1, 0, 1, 0),
]
_WAREHOUSES = [
    ("WH-MAIN", "Main distribution centre", "SITE-1"),
    ("WH-WEST", "West coast warehouse", "SITE-2"),
]
_DELIVERY_MODES = [
    ("FEDEX-GND", "FedEx Ground", "FedEx", "Ground"),
    ("FEDEX-2D", "FedEx 2Day", "FedEx", "2Day"),
    ("USPS-PRI", "USPS Priority Mail", "USPS", "Priority Mail"),
    ("UPS-NDA", "UPS Next Day Air", "UPS", "Next Day Air"),
    ("PICKUP", "Pick up in store", "Store", "Pickup"),
]
# item group, dimension group, tax group, nouns; the variant groups come last and make up 10%.
_GROUPS = [
    ("Audio", "SERIAL", "FULL", ("Headphones", "Speaker", "Soundbar", "Receiver")),
    ("Cameras", "SERIAL", "FULL", ("Camera", "Lens", "Tripod", "Flash")),
    ("Computers", "SERIAL", "FULL", ("Laptop", "Monitor", "Keyboard", "Mouse")),
    ("Phones", "SERIAL", "FULL", ("Phone", "Charger", "Case", "Cable")),
    ("Home", "STANDARD", "FULL", ("Lamp", "Kettle", "Blender", "Toaster")),
    ("Garden", "BATCH", "FULL", ("Hose", "Planter", "Seeds", "Shears")),
    ("Toys", "STANDARD", "REDUCED", ("Puzzle", "Robot", "Blocks", "Kite")),
    ("Books", "STANDARD", "REDUCED", ("Novel", "Cookbook", "Atlas", "Guide")),
    ("Grocery", "BATCH", "FOOD", ("Coffee", "Tea", "Chocolate", "Olive Oil")),
    ("Clothing", "SIZE_COLOUR", "FULL", ("T-Shirt", "Jacket", "Sweater", "Jeans")),
    ("Shoes", "SIZE_COLOUR", "FULL", ("Sneakers", "Boots", "Sandals", "Loafers")),
]
_VARIANT_GROUP_SHARE = 0.10
_ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Eco", "Pro", "Ultra", "Smart", "Urban", "Vintage", "Sport",
    "Premium", "Essential", "Travel", "Studio", "Outdoor", "Nordic",
)  # fmt: skip
_BRANDS = ("Contoso", "Fabrikam", "Litware", "Northwind", "Adventure Works", "Tailspin")
_SIZES = ("S", "M", "L", "XL", "XXL")
_COLOURS = ("Black", "White", "Red", "Blue", "Green", "Grey")
_FIRST = ("Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lea")
_LAST = ("Smith", "Garcia", "Nguyen", "Okafor", "Kowalski", "Tanaka", "Silva", "Muller", "Haddad")
_CUSTOMER_GROUPS = ("RETAIL", "RETAIL", "RETAIL", "WHOLESALE", "STAFF")


def erp_now() -> str:
    """The current UTC time in the ERP's timestamp format."""
    return _stamp(dt.datetime.now(dt.UTC))


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Clock:
    """Cheap deterministic timestamps within the year before ``_EPOCH``.

    datetime formatting costs more than the rest of a product row, so days are formatted once.
    """

    def __init__(self, rng: random.Random) -> None:
        start = _EPOCH - dt.timedelta(days=_HISTORY_DAYS)
        self._days = [
            (start + dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in range(_HISTORY_DAYS)
        ]
        self._random = rng.random

    def stamp(self) -> str:
        seconds = int(self._random() * 86_400 * _HISTORY_DAYS)
        day, rest = divmod(seconds, 86_400)
        hour, rest = divmod(rest, 3_600)
        minute, second = divmod(rest, 60)
        return f"{self._days[day]}T{hour:02d}:{minute:02d}:{second:02d}.000Z"


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open the ERP database with foreign keys enforced. Use as a context manager for a
    transaction; close it yourself (or wrap it in ``contextlib.closing``)."""
    conn = sqlite3.connect(os.fspath(path), timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _schema_statements() -> tuple[list[str], list[str]]:
    """The schema split into (tables and triggers, indexes): indexes are built after the load,
    which is several times faster than maintaining them row by row."""
    text = resources.files("runner.demo").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    body: list[str] = []
    indexes: list[str] = []
    pending = ""
    for line in text.splitlines(keepends=True):
        if not pending and (not line.strip() or line.lstrip().startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement.upper().startswith("PRAGMA"):
                # Foreign keys are a per-connection setting (see connect()); checking them row by
                # row during the load would double its time, and the generator keeps them valid.
                pending = ""
                continue
            (indexes if statement.upper().startswith("CREATE INDEX") else body).append(statement)
            pending = ""
    return body, indexes


def create_erp(
    path: str | os.PathLike[str],
    *,
    products: int = 1000,
    seed: int = 42,
    sell_online_ratio: float = 0.3,
) -> None:
    """Create the reference ERP at ``path`` and fill it with ``products`` demo products.

    Deterministic: the same ``products``, ``seed`` and ``sell_online_ratio`` give identical rows.
    Refuses an existing file (delete it first); raises :class:`ConfigError` on bad arguments.
    """
    if products < 0:
        raise ConfigError(f"products must be 0 or more, got {products}")
    if not 0.0 <= sell_online_ratio <= 1.0:
        raise ConfigError(f"sell_online_ratio must be between 0 and 1, got {sell_online_ratio}")
    target = Path(path)
    if target.exists():
        raise ConfigError(f"{target} already exists; delete it or choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    body, indexes = _schema_statements()
    conn = sqlite3.connect(os.fspath(target), isolation_level=None)
    try:
        # Nothing to protect during the first load: a crash leaves a file we would delete anyway.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -200000")
        conn.execute("BEGIN")
        for statement in body:
            conn.execute(statement)
        _load(conn, products, seed, sell_online_ratio)
        for statement in indexes:
            conn.execute(statement)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        # Normal operation: WAL lets a pipeline read while someone edits, and fsync is back.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        target.unlink(missing_ok=True)
        raise
    conn.close()
    log.info(
        "erp.created",
        extra={
            "path": os.fspath(target),
            "products": products,
            "seed": seed,
            "duration_s": round(time.perf_counter() - started, 3),
        },
    )


def _load(conn: sqlite3.Connection, products: int, seed: int, sell_online_ratio: float) -> None:
    rng = random.Random(seed)
    clock = _Clock(rng)
    conn.executemany(
        "INSERT INTO item_tax_groups VALUES (?, ?, ?, ?)",
        [(*row, clock.stamp()) for row in _TAX_GROUPS],
    )
    conn.executemany(
        "INSERT INTO dimension_groups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*row, clock.stamp()) for row in _DIMENSION_GROUPS],
    )
    conn.executemany(
        "INSERT INTO warehouses VALUES (?, ?, ?, ?)",
        [(*row, clock.stamp()) for row in _WAREHOUSES],
    )
    conn.executemany(
        "INSERT INTO delivery_modes VALUES (?, ?, ?, ?, ?)",
        [(*row, clock.stamp()) for row in _DELIVERY_MODES],
    )
    customers = list(_customers(rng, clock, max(20, min(products // 200, 100_000))))
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", customers)

    agreements = _AgreementIds()
    conn.executemany(
        "INSERT INTO trade_agreements VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        list(_group_agreements(agreements, clock)),
    )
    account_ids = [row[0] for row in customers]
    for chunk in _product_chunks(rng, clock, products, sell_online_ratio, account_ids, agreements):
        conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk[0])
        conn.executemany("INSERT INTO variants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk[1])
        conn.executemany("INSERT INTO on_hand VALUES (?, ?, ?, ?, ?)", chunk[2])
        conn.executemany(
            "INSERT INTO trade_agreements VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", chunk[3]
        )


def _customers(rng: random.Random, clock: _Clock, count: int) -> Iterator[tuple[Any, ...]]:
    for n in range(1, count + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first}.{last}{n}@example.com".lower()
        group = rng.choice(_CUSTOMER_GROUPS)
        yield (f"C{n:05d}", f"{first} {last}", email, group, "USD", clock.stamp())


class _AgreementIds:
    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last += 1
        return self.last


def _group_agreements(ids: _AgreementIds, clock: _Clock) -> Iterator[tuple[Any, ...]]:
    # id, relation, item_code, item_relation, account_code, account_relation, qty_from, qty_to,
    # valid_from, valid_to, currency, unit, amount, percent1, percent2, find_next, modified_at
    for group, *_ in _GROUPS:
        yield (ids.next(), "line_discount", "group", group, "group", "WHOLESALE", 1, None,
               "2025-01-01", None, "USD", "ea", None, 10.0, None, 1, clock.stamp())  # fmt: skip
    yield (ids.next(), "line_discount", "all", None, "group", "STAFF", 1, None,
           "2025-01-01", None, "USD", "ea", None, 20.0, None, 0, clock.stamp())  # fmt: skip
    yield (ids.next(), "multiline_discount", "group", "Clothing", "all", None, 5, None,
           "2025-06-01", "2026-12-31", "USD", "ea", None, 5.0, None, 0, clock.stamp())  # fmt: skip
    yield (ids.next(), "total_discount", "all", None, "all", None, 1000, None,
           None, None, "USD", "ea", None, 2.0, None, 0, clock.stamp())  # fmt: skip


_Chunk = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]


def _product_chunks(
    rng: random.Random,
    clock: _Clock,
    count: int,
    sell_online_ratio: float,
    account_ids: list[str],
    agreement_ids: _AgreementIds,
) -> Iterator[_Chunk]:
    """Products with their variants, on-hand rows and item agreements, CHUNK products at a time
    (memory stays flat for any catalogue size)."""
    rand = rng.random
    plain_groups = _GROUPS[:-2]
    variant_groups = _GROUPS[-2:]
    n_plain, n_variant = len(plain_groups), len(variant_groups)
    n_adj, n_brand, n_acc = len(_ADJECTIVES), len(_BRANDS), len(account_ids)
    variant_no = 0
    products: list[tuple[Any, ...]] = []
    variants: list[tuple[Any, ...]] = []
    on_hand: list[tuple[Any, ...]] = []
    agreements: list[tuple[Any, ...]] = []
    for n in range(1, count + 1):
        item_id = f"I{n:06d}"
        has_variants = rand() < _VARIANT_GROUP_SHARE
        if has_variants:
            group, dim_group, tax_group, nouns = variant_groups[int(rand() * n_variant)]
        else:
            group, dim_group, tax_group, nouns = plain_groups[int(rand() * n_plain)]
        brand = _BRANDS[int(rand() * n_brand)]
        name = f"{brand} {_ADJECTIVES[int(rand() * n_adj)]} {nouns[int(rand() * 4)]} {n % 97 + 1}"
        price = int(5 + rand() * rand() * 995) + 0.99
        modified = clock.stamp()
        products.append((
            item_id, name, f"{name}: a {group.lower()} item from {brand}.", group, price, "USD",
            1 if rand() < sell_online_ratio else 0, tax_group, dim_group, modified,
        ))  # fmt: skip
        if has_variants:
            first_colour = int(rand() * len(_COLOURS))
            for v in range(1 + int(rand() * 5)):
                variant_no += 1
                size = _SIZES[v % len(_SIZES)]
                colour = _COLOURS[(first_colour + v) % len(_COLOURS)]
                sku = f"{item_id}-{size}-{colour}"
                delta = 2.0 if size in ("XL", "XXL") else 0.0
                variants.append(
                    (f"V{variant_no:07d}", item_id, size, colour, None, None, sku, delta, modified)
                )
                _stock(rand, sku, modified, on_hand)
        else:
            _stock(rand, item_id, modified, on_hand)
        roll = rand()
        if roll < 0.05:
            agreements.append((
                agreement_ids.next(), "price", "item", item_id, "group", "WHOLESALE", 10, None,
                "2025-01-01", None, "USD", "ea", round(price * 0.9, 2), None, None, 0, modified,
            ))  # fmt: skip
        elif roll < 0.06:
            account = account_ids[int(rand() * n_acc)]
            agreements.append((
                agreement_ids.next(), "price", "item", item_id, "customer", account, 1, 100,
                "2025-07-01", "2026-06-30", "USD", "ea", round(price * 0.85, 2), None, None, 0,
                modified,
            ))  # fmt: skip
        if n % CHUNK == 0:
            yield products, variants, on_hand, agreements
            products, variants, on_hand, agreements = [], [], [], []
    if products:
        yield products, variants, on_hand, agreements


def _stock(rand: Any, sku: str, modified: str, out: list[tuple[Any, ...]]) -> None:
    physical = int(rand() * 200)
    out.append((sku, "WH-MAIN", physical, int(rand() * 0.1 * physical), modified))
    if rand() < 0.2:
        physical = int(rand() * 50)
        out.append((sku, "WH-WEST", physical, 0, modified))


def record_shipment(
    path: str | os.PathLike[str],
    sales_order_id: int,
    carrier: str,
    tracking_number: str,
    *,
    shipped_at: str | None = None,
) -> int:
    """Post a packing slip for an order, as the warehouse would, and mark the order delivered
    (AX's status once the packing slip is posted). Returns the new shipment_id."""
    when = shipped_at or erp_now()
    with closing(connect(path)) as conn, conn:
        found = conn.execute(
            "SELECT status FROM sales_orders WHERE sales_order_id = ?", (sales_order_id,)
        ).fetchone()
        if found is None:
            raise ConfigError(f"sales order {sales_order_id} does not exist in {path}")
        cursor = conn.execute(
            "INSERT INTO shipments (sales_order_id, carrier, tracking_number, shipped_at,"
            " modified_at) VALUES (?, ?, ?, ?, ?)",
            (sales_order_id, carrier, tracking_number, when, erp_now()),
        )
        conn.execute(
            "UPDATE sales_orders SET status = 'delivered' WHERE sales_order_id = ?",
            (sales_order_id,),
        )
        return int(cursor.lastrowid or 0)


def set_sell_online(path: str | os.PathLike[str], item_ids: list[str], selected: bool) -> int:
    """Select (or deselect) products to sell online; returns how many rows changed. The
    trigger stamps modified_at, so the next incremental run picks the change up."""
    with closing(connect(path)) as conn, conn:
        cursor = conn.executemany(
            "UPDATE products SET sell_online = ? WHERE item_id = ? AND sell_online != ?",
            [(int(selected), item, int(selected)) for item in item_ids],
        )
        return int(cursor.rowcount)
