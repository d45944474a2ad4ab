"""What the sandbox store accepts: each function checks one incoming record and returns its
normalized form (defaults filled, numbers as floats), or raises :class:`Invalid` naming the field.

Unknown fields are refused rather than dropped, so a pipeline that maps a field wrongly hears
about it on the first record instead of silently losing data. ``id`` and ``updated_at`` are
accepted and ignored on writes, so a record read from the store can be written back.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from runner.demo.sandbox.faults import CREATE_MODES

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "Invalid",
    "delivery_mode",
    "fault_config_fields",
    "inventory",
    "money",
    "order_request",
    "price",
    "product",
    "refusal",
]

# Page sizes of every listing, REST and GraphQL.
DEFAULT_PAGE = 100
MAX_PAGE = 1000

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$")
_SERVER_FIELDS = frozenset({"id", "updated_at"})
_RELATIONS = ("price", "line_discount", "multiline_discount", "total_discount")


class Invalid(ValueError):
    """One record is not acceptable; the message says which field and why."""


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{what} must be a JSON object")
    return value


def _only(record: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(record) - allowed - _SERVER_FIELDS)
    if unknown:
        raise Invalid(
            f"{what}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _text(record: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = record.get(field)
    if value is None:
        if required:
            raise Invalid(f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"{field} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if required and not text:
        raise Invalid(f"{field} must not be empty")
    if len(text) > 500:
        raise Invalid(f"{field} is longer than 500 characters")
    return text


def _number(
    record: dict[str, Any], field: str, *, required: bool = False, minimum: float | None = 0.0
) -> float | None:
    value = record.get(field)
    if value is None:
        if required:
            raise Invalid(f"{field} is required")
        return None
    if isinstance(value, bool):
        raise Invalid(f"{field} must be a number, got a boolean")
    if isinstance(value, str):
        try:
            value = float(Decimal(value.strip()))
        except InvalidOperation:
            raise Invalid(f"{field} must be a number, got {value!r}") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(f"{field} must be a finite number")
    if minimum is not None and value < minimum:
        raise Invalid(f"{field} must be at least {minimum:g}, got {value:g}")
    return float(value)


def _boolean(record: dict[str, Any], field: str, default: bool) -> bool:
    value = record.get(field, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise Invalid(f"{field} must be true or false")


def _currency(record: dict[str, Any]) -> str:
    value = _text(record, "currency") or "USD"
    if not _CURRENCY.match(value):
        raise Invalid(f"currency must be a 3-letter ISO code like USD, got {value!r}")
    return value


def _date(record: dict[str, Any], field: str) -> str | None:
    value = _text(record, field)
    if value and not _DATE.match(value):
        raise Invalid(f"{field} must be an ISO-8601 date like 2026-01-31, got {value!r}")
    return value or None


def money(value: float | Decimal) -> float:
    """Round to cents the way a till does (half up)."""
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


_PRODUCT = frozenset(
    {
        "sku",
        "title",
        "description",
        "price",
        "currency",
        "tax_group",
        "tax_rate",
        "published",
        "variants",
        "dimension_group",
    }
)
_VARIANT = frozenset({"sku", "size", "colour", "style", "configuration", "price"})


def product(raw: Any) -> dict[str, Any]:
    record = _object(raw, "a product")
    _only(record, _PRODUCT, "product")
    tax_rate = _number(record, "tax_rate")
    if tax_rate is not None and tax_rate > 1:
        raise Invalid(f"tax_rate is a fraction (0.0825 for 8.25%), got {tax_rate:g}")
    variants_raw = record.get("variants") or []
    if not isinstance(variants_raw, list):
        raise Invalid("variants must be a list")
    variants = []
    seen: set[str] = set()
    for index, item in enumerate(variants_raw):
        variant = _object(item, f"variants[{index}]")
        try:
            _only(variant, _VARIANT, "variant")
            sku = _text(variant, "sku", required=True)
            assert sku is not None
            if sku in seen:
                raise Invalid(f"sku {sku!r} appears twice")
            seen.add(sku)
            variants.append(
                {
                    "sku": sku,
                    "size": _text(variant, "size"),
                    "colour": _text(variant, "colour"),
                    "style": _text(variant, "style"),
                    "configuration": _text(variant, "configuration"),
                    "price": _number(variant, "price"),
                }
            )
        except Invalid as exc:
            raise Invalid(f"variants[{index}]: {exc}") from None
    return {
        "sku": _text(record, "sku", required=True),
        "title": _text(record, "title", required=True),
        "description": _text(record, "description"),
        "price": _number(record, "price", required=True),
        "currency": _currency(record),
        "tax_group": _text(record, "tax_group"),
        "tax_rate": tax_rate,
        "published": _boolean(record, "published", True),
        "variants": variants,
        "dimension_group": _text(record, "dimension_group"),
    }


_INVENTORY = frozenset({"sku", "available", "warehouse"})


def inventory(raw: Any) -> dict[str, Any]:
    record = _object(raw, "an inventory record")
    _only(record, _INVENTORY, "inventory")
    available = _number(record, "available", required=True, minimum=None)
    assert available is not None
    if available != int(available):
        raise Invalid(f"available must be a whole number, got {available:g}")
    return {
        "sku": _text(record, "sku", required=True),
        "warehouse": _text(record, "warehouse") or "",
        "available": int(available),
    }


_PRICE = frozenset(
    {
        "id",
        "relation",
        "sku",
        "item_group",
        "all",
        "customer",
        "customer_group",
        "quantity_from",
        "quantity_to",
        "valid_from",
        "valid_to",
        "currency",
        "amount",
        "percent",
        "percent2",
        "unit",
    }
)


def price(raw: Any) -> dict[str, Any]:
    record = _object(raw, "a price record")
    unknown = sorted(set(record) - _PRICE - {"updated_at"})
    if unknown:
        raise Invalid(f"price: unknown field(s) {', '.join(unknown)}")
    agreement = _text(record, "id", required=True)
    relation = _text(record, "relation") or "price"
    if relation not in _RELATIONS:
        raise Invalid(f"relation must be one of {', '.join(_RELATIONS)}, got {relation!r}")
    everything = _boolean(record, "all", False)
    sku, group = _text(record, "sku"), _text(record, "item_group")
    if [bool(sku), bool(group), everything].count(True) != 1:
        raise Invalid("give exactly one of sku, item_group or all: true")
    customer, customer_group = _text(record, "customer"), _text(record, "customer_group")
    if customer and customer_group:
        raise Invalid("give customer or customer_group, not both")
    amount, percent = _number(record, "amount"), _number(record, "percent")
    if relation == "price" and amount is None:
        raise Invalid("amount is required for a price")
    if relation != "price" and percent is None:
        raise Invalid(f"percent is required for a {relation}")
    quantity_from = _number(record, "quantity_from") or 0.0
    quantity_to = _number(record, "quantity_to")
    if quantity_to is not None and quantity_to < quantity_from:
        raise Invalid("quantity_to is less than quantity_from")
    valid_from, valid_to = _date(record, "valid_from"), _date(record, "valid_to")
    if valid_from and valid_to and valid_to[:10] < valid_from[:10]:
        raise Invalid("valid_to is before valid_from")
    return {
        "id": agreement,
        "relation": relation,
        "sku": sku,
        "item_group": group,
        "all": everything,
        "customer": customer,
        "customer_group": customer_group,
        "quantity_from": quantity_from,
        "quantity_to": quantity_to,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "currency": _currency(record),
        "unit": _text(record, "unit") or "ea",
        "amount": amount,
        "percent": percent,
        "percent2": _number(record, "percent2"),
    }


_DELIVERY_MODE = frozenset({"code", "description", "carrier", "service"})


def delivery_mode(raw: Any) -> dict[str, Any]:
    record = _object(raw, "a delivery mode")
    _only(record, _DELIVERY_MODE, "delivery mode")
    return {
        "code": _text(record, "code", required=True),
        "description": _text(record, "description", required=True),
        "carrier": _text(record, "carrier"),
        "service": _text(record, "service"),
    }


_ORDER = frozenset({"store_id", "customer", "shipping_address", "delivery_mode", "lines"})
_ADDRESS = frozenset({"name", "line1", "line2", "city", "region", "postal_code", "country"})


def order_request(raw: Any) -> dict[str, Any]:
    """A shopper's order as placed: who, where to, how, and which SKUs in what quantities."""
    record = _object(raw, "an order")
    _only(record, _ORDER, "order")
    customer = _object(record.get("customer"), "customer")
    email = _text(customer, "email", required=True)
    assert email is not None
    if "@" not in email:
        raise Invalid(f"customer.email is not an email address: {email!r}")
    address = _object(record.get("shipping_address"), "shipping_address")
    _only(address, _ADDRESS, "shipping_address")
    try:
        shipping = {
            "name": _text(address, "name"),
            "line1": _text(address, "line1", required=True),
            "line2": _text(address, "line2"),
            "city": _text(address, "city", required=True),
            "region": _text(address, "region"),
            "postal_code": _text(address, "postal_code", required=True),
            "country": _text(address, "country", required=True),
        }
    except Invalid as exc:
        raise Invalid(f"shipping_address.{exc}") from None
    lines_raw = record.get("lines")
    if not isinstance(lines_raw, list) or not lines_raw:
        raise Invalid("lines must be a non-empty list of {sku, quantity}")
    lines = []
    for index, item in enumerate(lines_raw):
        line = _object(item, f"lines[{index}]")
        try:
            quantity = _number(line, "quantity", required=True, minimum=1)
            assert quantity is not None
            if quantity != int(quantity):
                raise Invalid("quantity must be a whole number")
            lines.append({"sku": _text(line, "sku", required=True), "quantity": int(quantity)})
        except Invalid as exc:
            raise Invalid(f"lines[{index}].{exc}") from None
    return {
        "store_id": _text(record, "store_id", required=True),
        "customer": {"email": email, "name": _text(customer, "name")},
        "shipping_address": shipping,
        "delivery_mode": _text(record, "delivery_mode", required=True),
        "lines": lines,
    }


def fault_config_fields(raw: Any) -> dict[str, Any]:
    """The body of ``PUT /v1/_admin/faults`` as keyword arguments for FaultConfig."""
    record = _object(raw, "the fault configuration")
    allowed = frozenset(
        {"error_rate", "latency_ms", "drop_rate", "drop_phase", "burst_429", "seed"}
        | {"create", "errors_in_200", "rate"}
    )
    _only(record, allowed, "faults")
    fields: dict[str, Any] = {}
    for rate in ("error_rate", "drop_rate"):
        value = _number(record, rate)
        if value is not None:
            if value > 1:
                raise Invalid(f"{rate} is a probability between 0 and 1, got {value:g}")
            fields[rate] = value
    latency = _number(record, "latency_ms")
    if latency is not None:
        fields["latency_ms"] = latency
    phase = _text(record, "drop_phase")
    if phase is not None:
        if phase not in ("before", "after"):
            raise Invalid("drop_phase must be 'before' or 'after'")
        fields["drop_phase"] = phase
    seed = _number(record, "seed")
    if seed is not None:
        fields["seed"] = int(seed)
    burst = record.get("burst_429")
    if burst is not None:
        burst = _object(burst, "burst_429")
        _only(burst, frozenset({"every", "length", "retry_after"}), "burst_429")
        every = int(_number(burst, "every", required=True, minimum=1) or 0)
        length = int(_number(burst, "length", required=True, minimum=0) or 0)
        if length > every:
            raise Invalid("burst_429.length must not exceed burst_429.every")
        fields["burst_every"] = every
        fields["burst_length"] = length
        fields["burst_retry_after"] = int(_number(burst, "retry_after", minimum=0) or 1)
    create = _text(record, "create")
    if create is not None:
        if create not in CREATE_MODES:
            raise Invalid(f"create must be 'upsert' or 'always', got {create!r}")
        fields["create"] = create
    fields["errors_in_200"] = _boolean(record, "errors_in_200", False)
    if record.get("rate") is not None:
        fields.update(_rate_fields(_object(record["rate"], "rate")))
    return fields


_RATES = {
    # budget: (its count and its seconds as the API names them, the FaultConfig fields they fill)
    "fixed": (("requests", "window_s"), ("fixed_requests", "fixed_window_s")),
    "leaky": (("limit", "leak_per_s"), ("leaky_limit", "leaky_per_s")),
    "cost": (("maximum", "restore_per_s"), ("cost_maximum", "cost_per_s")),
}
LEAKY_HEADERS = ("x-ratelimit", "shopify")


def _rate_fields(rate: dict[str, Any]) -> dict[str, Any]:
    """``{"fixed": {"requests", "window_s"}, "leaky": {"limit", "leak_per_s", "headers"},
    "cost": {"maximum", "restore_per_s"}}``, each optional (null or absent: that budget is
    off); the leaky bucket's ``headers``, ``x-ratelimit`` (the default) or ``shopify``."""
    _only(rate, frozenset(_RATES), "rate")
    fields: dict[str, Any] = {}
    for name, ((count, per), (count_field, per_field)) in _RATES.items():
        if rate.get(name) is None:
            continue
        budget = _object(rate[name], f"rate.{name}")
        _only(budget, frozenset({count, per, "headers"} if name == "leaky" else {count, per}),
              f"rate.{name}")
        if name == "leaky" and (style := _text(budget, "headers")) is not None:
            if style not in LEAKY_HEADERS:
                raise Invalid(f"rate.leaky.headers must be one of "
                              f"{', '.join(map(repr, LEAKY_HEADERS))}, got {style!r}")
            fields["leaky_headers"] = style
        try:
            amount = _number(budget, count, required=True, minimum=1)
            seconds = _number(budget, per, required=True, minimum=None)
        except Invalid as exc:
            raise Invalid(f"rate.{name}.{exc}") from None
        assert amount is not None and seconds is not None
        if amount != int(amount) or seconds <= 0:
            raise Invalid(f"rate.{name}: {count} must be a whole number and {per} positive")
        fields[count_field] = int(amount)
        fields[per_field] = seconds
    return fields


REFUSE_PREFIX = "REFUSE:"


def refusal(record: dict[str, Any], text_field: str = "title") -> tuple[str, str] | None:
    """The business error a real store would answer for a record it refuses after validation
    (the errors-in-200 mode's deterministic trigger): ``(field, message)`` or None.

    A ``text_field`` starting with ``REFUSE:`` is refused with the rest as the reason. (A
    negative price is the other trigger: ``product`` refuses it in every mode, and the mode
    moves that refusal into a 200.)"""
    text = record.get(text_field)
    if isinstance(text, str) and text.startswith(REFUSE_PREFIX):
        reason = text[len(REFUSE_PREFIX) :].strip() or "refused by the store"
        return text_field, f"{text_field}: {reason}"
    return None
