"""The safe expression language of computed fields and ``expr`` filters.

Expressions are evaluated by ``simpleeval`` (no ``eval``): a record's fields are the names
(a missing field is ``None``), the functions are a small, deterministic set (:data:`FUNCTIONS`),
attribute access is limited to the plain methods of str/int/float/list/dict that simpleeval
allows, dunder access is refused, and simpleeval's guards bound powers (``9**9**9``) and string
sizes (``'a' * 10**9``).

Each expression is parsed once, when the step is compiled; a syntax error, an unknown function
or an ``_underscore`` attribute is a :class:`~runner.errors.ConfigError` then. A failure while
evaluating one record (a type error, a guard tripping) is a :class:`~runner.errors.RecordError`,
which the step turns into a quarantined record.

Arithmetic mixing ``Decimal`` (what SQL numeric columns give) with ``float`` literals converts
the float through its shortest repr, so ``price * 1.2`` works on a Decimal price and stays a
Decimal.

>>> e = compile_expression("round(price * qty, 2)")
>>> e.evaluate({"price": Decimal("2.50"), "qty": 3})
Decimal('7.50')
>>> sorted(e.names)
['price', 'qty']
"""

from __future__ import annotations

import ast
import operator as op
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import simpleeval

from runner.errors import ConfigError, RecordError

__all__ = ["FUNCTIONS", "CompiledExpression", "compile_expression"]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return None


def _concat(*values: Any) -> str:
    return "".join("" if v is None else str(v) for v in values)


def _lower(value: Any) -> Any:
    return None if value is None else str(value).lower()


def _upper(value: Any) -> Any:
    return None if value is None else str(value).upper()


def _strip(value: Any) -> Any:
    return None if value is None else str(value).strip()


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a decimal") from exc


def _round(value: Any, ndigits: int | None = None) -> Any:
    if value is None:
        return None
    return round(value) if ndigits is None else round(value, ndigits)


def _enumerate(values: Any, start: int = 0) -> list[tuple[int, Any]]:
    # A list, not the lazy iterator: simpleeval's guards see the size, results are values.
    return list(enumerate(values, start))


def _sorted(values: Any, reverse: bool = False) -> list[Any]:
    return sorted(values, reverse=reverse)


def _unique(values: Any) -> list[Any]:
    """The values in first-seen order without repeats (dicts and lists compare by value)."""
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "Decimal": _decimal,
    "decimal": _decimal,
    "lower": _lower,
    "upper": _upper,
    "strip": _strip,
    "concat": _concat,
    "coalesce": _coalesce,
    "enumerate": _enumerate,
    "sorted": _sorted,
    "unique": _unique,
}


def _numeric(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wrap a binary operator so that Decimal op float works (float -> Decimal via repr)."""

    def apply(a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta is Decimal and tb is float:
            b = Decimal(repr(b))
        elif tb is Decimal and ta is float:
            a = Decimal(repr(a))
        return fn(a, b)

    return apply


_OPERATORS: dict[type, Any] = dict(simpleeval.DEFAULT_OPERATORS)
for _node, _fn in (
    (ast.Add, simpleeval.safe_add),
    (ast.Sub, op.sub),
    (ast.Mult, simpleeval.safe_mult),
    (ast.Div, op.truediv),
    (ast.FloorDiv, op.floordiv),
    (ast.Mod, op.mod),
    (ast.Gt, op.gt),
    (ast.Lt, op.lt),
    (ast.GtE, op.ge),
    (ast.LtE, op.le),
    (ast.Eq, op.eq),
    (ast.NotEq, op.ne),
):
    _OPERATORS[_node] = _numeric(_fn)

# Methods on plain values only (``sku.upper()``, ``tags.count('x')``); no Decimal/datetime
# internals, and never the str.format family simpleeval already refuses.
_ALLOWED_ATTRS = {
    t: set(attrs) - {"format", "format_map"}
    for t, attrs in simpleeval.BASIC_ALLOWED_ATTRS.items()
}


class _Names:
    """The record as simpleeval's name table: a missing field reads as None."""

    __slots__ = ("row",)

    def __init__(self) -> None:
        self.row: Mapping[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        row = self.row
        if name in row:
            return row[name]
        if name == "None":
            return None
        if name in ("True", "true"):
            return True
        if name in ("False", "false"):
            return False
        return None


_CONSTANT_NAMES = frozenset({"None", "True", "False", "true", "false"})


class CompiledExpression:
    """One parsed expression; :meth:`evaluate` runs it against a record.

    Not thread-safe: an instance reuses one evaluator. Compile one per thread if needed.
    """

    __slots__ = ("_evaluator", "_names", "_node", "names", "text")

    def __init__(self, text: str, node: ast.AST, names: frozenset[str],
                 functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.text = text
        self.names = names  # record fields the expression reads
        self._node = node
        self._names = _Names()
        self._evaluator = simpleeval.EvalWithCompoundTypes(
            operators=_OPERATORS,
            functions={**FUNCTIONS, **(functions or {})},
            names=self._names,
            allowed_attrs=_ALLOWED_ATTRS,
        )

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        """The value of the expression for ``row``; :class:`RecordError` if it cannot be had."""
        self._names.row = row
        try:
            return self._evaluator.eval(self.text, self._node)
        except (simpleeval.InvalidExpression, ArithmeticError, TypeError, ValueError,
                KeyError, IndexError, AttributeError, InvalidOperation, RecursionError) as exc:
            raise RecordError(
                f"expression {_short(self.text)} failed: {type(exc).__name__}: {_short(str(exc))}"
            ) from exc
        finally:
            self._names.row = {}

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r})"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compile_expression(
    text: str, *, where: str = "", functions: Mapping[str, Callable[..., Any]] | None = None
) -> CompiledExpression:
    """Parse ``text`` once and check it statically; ConfigError names the expression.
    ``functions`` adds the step's own (``lookup``, ``keymap``) to :data:`FUNCTIONS`."""
    known = {**FUNCTIONS, **(functions or {})}
    prefix = f"{where}: " if where else ""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{prefix}an expression must be a non-empty string, not {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(
            f"{prefix}expression {text!r} is not valid: {exc.msg} (column {exc.offset}); "
            "write a single expression such as `price * 1.2` or `qty > 0 and active`"
        ) from exc
    node = tree.body
    names: set[str] = set()
    bound: set[str] = set()  # comprehension variables are not record fields
    for sub in ast.walk(tree):
        if isinstance(sub, ast.comprehension):
            for target in ast.walk(sub.target):
                if isinstance(target, ast.Name):
                    bound.add(target.id)
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Attribute) and (
            sub.attr.startswith(("_", "func_")) or sub.attr in simpleeval.DISALLOW_METHODS
        ):
            raise ConfigError(
                f"{prefix}expression {text!r}: access to attribute {sub.attr!r} is not allowed"
            )
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Name):
                if sub.func.id not in known and sub.func.id not in (
                    "list", "tuple", "dict", "set"
                ):
                    raise ConfigError(
                        f"{prefix}expression {text!r}: unknown function {sub.func.id!r}; "
                        f"available: {', '.join(sorted(known))}"
                    )
            elif not isinstance(sub.func, ast.Attribute):
                raise ConfigError(
                    f"{prefix}expression {text!r}: only named functions can be called"
                )
        elif isinstance(sub, ast.Name) and sub.id.startswith("_"):
            raise ConfigError(f"{prefix}expression {text!r}: name {sub.id!r} is not allowed")
        elif isinstance(sub, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            raise ConfigError(
                f"{prefix}expression {text!r}: {type(sub).__name__} is not supported"
            )
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            called = False
            if sub.id in known:
                called = True
            if not called and sub.id not in _CONSTANT_NAMES and sub.id not in bound:
                names.add(sub.id)
    return CompiledExpression(text, node, frozenset(names), functions)
