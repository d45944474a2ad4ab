"""The order side of the sandbox store: pricing a shopper's order, the status machine, and
shipments.

Status machine (``PATCH /v1/orders/{id}``)::

    placed ──► accepted ──► shipped ──► delivered
       └──────────┴──► cancelled            (only before shipped)

A shipment (``POST /v1/orders/{id}/shipments``) is accepted for a placed, accepted or already
shipped order (partial shipments) and moves it to shipped.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

import orjson

from runner.demo.sandbox import validation
from runner.demo.sandbox.responses import ApiError
from runner.demo.sandbox.storage import SandboxStore, make_id

__all__ = ["TRANSITIONS", "change_status", "place_order", "ship_order"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "placed": frozenset({"accepted", "cancelled"}),
    "accepted": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}
_SHIPPABLE = frozenset({"placed", "accepted", "shipped"})


def place_order(store: SandboxStore, payload: Any) -> dict[str, Any]:
    """Price and record a shopper's order from the store's own products."""
    try:
        request = validation.order_request(payload)
    except validation.Invalid as exc:
        raise ApiError(422, str(exc)) from None
    shop = next((s for s in store.stores() if s["id"] == request["store_id"]), None)
    if shop is None:
        raise ApiError(422, f"unknown store_id {request['store_id']!r}; see GET /v1/stores")
    if store.get_by_key("delivery-modes", request["delivery_mode"]) is None:
        raise ApiError(
            422,
            f"unknown delivery_mode {request['delivery_mode']!r}; delivery modes come from the "
            "ERP (POST /v1/delivery-modes/batch)",
        )
    lines = []
    subtotal = tax = Decimal(0)
    for number, wanted in enumerate(request["lines"], start=1):
        found = store.find_sku(wanted["sku"])
        if found is None:
            raise ApiError(
                422, f"lines[{number - 1}]: no product or variant with sku {wanted['sku']!r}"
            )
        product, variant = found
        if not product["published"]:
            raise ApiError(422, f"lines[{number - 1}]: {wanted['sku']} is not for sale")
        price = variant["price"] if variant and variant["price"] is not None else product["price"]
        unit = Decimal(str(price))
        rate = Decimal(str(product["tax_rate"] or 0))
        line_total = Decimal(str(validation.money(unit * wanted["quantity"])))
        subtotal += line_total
        tax += line_total * rate
        lines.append(
            {
                "line_number": number,
                "sku": wanted["sku"],
                "product_id": product["id"],
                "title": product["title"],
                "quantity": wanted["quantity"],
                "unit_price": validation.money(unit),
                "tax_rate": float(rate),
                "line_total": float(line_total),
            }
        )

    def build(n: int, now: str) -> dict[str, Any]:
        return {
            "id": make_id("ord", n),
            "number": str(100_000 + n),
            "store_id": shop["id"],
            "status": "placed",
            "currency": shop["currency"],
            "customer": request["customer"],
            "shipping_address": request["shipping_address"],
            "delivery_mode": request["delivery_mode"],
            "lines": lines,
            "subtotal": validation.money(subtotal),
            "tax": validation.money(tax),
            "total": validation.money(subtotal + Decimal(str(validation.money(tax)))),
            "placed_at": now,
            "updated_at": now,
            "shipment_ids": [],
        }

    return store.insert_order(build)


def change_status(store: SandboxStore, n: int, payload: Any) -> dict[str, Any]:
    """Move an order to ``payload["status"]``; a move to the current status changes nothing."""
    if not isinstance(payload, dict) or set(payload) != {"status"}:
        raise ApiError(422, 'send {"status": "<new status>"} and nothing else')
    target = payload["status"]
    if target not in TRANSITIONS:
        raise ApiError(422, f"unknown status {target!r}; one of {', '.join(TRANSITIONS)}")
    current = store.get_order(n)
    if current is None:
        raise ApiError(404, f"no order {make_id('ord', n)}")
    if current["status"] == target:
        return current

    def change(order: dict[str, Any], now: str, conn: sqlite3.Connection) -> dict[str, Any]:
        source = order["status"]
        if target not in TRANSITIONS[source]:
            raise ApiError(
                409,
                f"an order cannot go from {source} to {target}",
                **{"from": source, "to": target, "allowed": sorted(TRANSITIONS[source])},
            )
        order["status"] = target
        return order

    updated = store.update_order(n, change)
    if updated is None:
        raise ApiError(404, f"no order {make_id('ord', n)}")
    return updated


def _shipment_request(payload: Any, order: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ApiError(422, "a shipment must be a JSON object")
    unknown = sorted(set(payload) - {"carrier", "tracking_number", "shipped_at", "lines"})
    if unknown:
        raise ApiError(422, f"shipment: unknown field(s) {', '.join(unknown)}")
    for field in ("carrier", "tracking_number"):
        if not isinstance(payload.get(field), str) or not payload[field].strip():
            raise ApiError(422, f"{field} is required")
    by_number = {line["line_number"]: line for line in order["lines"]}
    by_sku = {line["sku"]: line for line in order["lines"]}
    lines = []
    for index, item in enumerate(payload.get("lines") or []):
        if not isinstance(item, dict):
            raise ApiError(422, f"lines[{index}] must be an object")
        line = by_number.get(item.get("line_number")) or by_sku.get(item.get("sku"))
        if line is None:
            raise ApiError(422, f"lines[{index}] names no line of this order")
        quantity = item.get("quantity", line["quantity"])
        if not isinstance(quantity, int) or not 0 < quantity <= line["quantity"]:
            raise ApiError(422, f"lines[{index}].quantity must be 1..{line['quantity']}")
        lines.append({"line_number": line["line_number"], "sku": line["sku"], "quantity": quantity})
    shipped_at = payload.get("shipped_at")
    if shipped_at is not None and not isinstance(shipped_at, str):
        raise ApiError(422, "shipped_at must be an ISO-8601 timestamp")
    return {
        "carrier": payload["carrier"].strip(),
        "tracking_number": payload["tracking_number"].strip(),
        "shipped_at": shipped_at,
        "lines": lines
        or [
            {"line_number": line["line_number"], "sku": line["sku"], "quantity": line["quantity"]}
            for line in order["lines"]
        ],
    }


def ship_order(store: SandboxStore, n: int, payload: Any) -> dict[str, Any]:
    """Record a shipment and move the order to shipped. Returns the shipment."""
    shipment: dict[str, Any] = {}

    def change(order: dict[str, Any], now: str, conn: sqlite3.Connection) -> dict[str, Any]:
        if order["status"] not in _SHIPPABLE:
            raise ApiError(
                409,
                f"an order that is {order['status']} cannot be shipped",
                **{"from": order["status"], "to": "shipped"},
            )
        request = _shipment_request(payload, order)
        row = conn.execute("INSERT INTO shipments (order_n, body) VALUES (?, x'')", (n,)).lastrowid
        assert row is not None
        shipment.update(
            {
                "id": make_id("shp", row),
                "order_id": order["id"],
                **request,
                "shipped_at": request["shipped_at"] or now,
                "created_at": now,
            }
        )
        conn.execute("UPDATE shipments SET body = ? WHERE n = ?", (orjson.dumps(shipment), row))
        order["status"] = "shipped"
        order["shipment_ids"] = [*order.get("shipment_ids", []), shipment["id"]]
        return order

    if store.update_order(n, change) is None:
        raise ApiError(404, f"no order {make_id('ord', n)}")
    return shipment
