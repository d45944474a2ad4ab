"""What ``validate`` says about the field paths of a step (``map``, filters, ``key``, cursor).

A path is checked where it is written: a malformed one (``carrier.carrier_product.``, an
unclosed quote) is an error with its fix; with the source's fields declared, a path is accepted
when its root is one of them (``fields: [customer]`` covers ``customer.email``) or when the
whole path is (an SQL column named ``a.b``), and otherwise the unknown root is named with a
suggestion. What lies below the root cannot be known without reading: a record missing it is
quarantined at run time with its reason (see :mod:`runner.paths`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from runner.build import suggest
from runner.config import Document, join_path
from runner.paths import path_error, root_field
from runner.spec import FieldMap

__all__ = ["check_path", "mapping_paths"]


def check_path(doc: Document, path: str, where: str, fields: Sequence[str] | None,
               what: str = "the source") -> bool:
    """Report a malformed ``path``, or a root ``what`` does not provide; True when fine."""
    problem = path_error(path)
    if problem is not None:
        doc.add(where, f"malformed field path: {problem}")
        return False
    if fields is None or path in fields:
        return True
    root = root_field(path)
    if root in fields:
        return True
    named = repr(root) if root == path else f"{root!r} (the root of {path!r})"
    doc.add(where, f"{what} has no field {named}; it provides: {', '.join(fields)}"
                   f"{suggest(root, fields)}")
    return False


def mapping_paths(fm: FieldMap, raw: object, where: str) -> Iterator[tuple[str, str, bool]]:
    """``(path, where it is written, read from the source row)`` for each path of one mapped
    field; the paths of ``each`` read the list's items, not the source row."""
    if fm.field is not None:
        yield fm.field, where if isinstance(raw, str) else join_path(where, "field"), True
    for index, name in enumerate(fm.coalesce):
        yield name, join_path(join_path(where, "coalesce"), index), True
    for ref in (fm.lookup, fm.keymap):
        if ref is not None and not ref.mapped:  # a mapped key names an output field
            yield ref.on, join_path(where, "on"), True
    if fm.currency_field is not None:
        yield fm.currency_field, join_path(join_path(where, "currency"), "field"), True
    sub_raw = raw.get("each") if isinstance(raw, dict) else None
    for sub in fm.each or ():
        sub_where = join_path(join_path(where, "each"), sub.target)
        for path, place, _ in mapping_paths(sub, (sub_raw or {}).get(sub.target), sub_where):
            yield path, place, False
