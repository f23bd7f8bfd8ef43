"""SCIM filters (RFC 7644 §3.4.2.2) compiled to Piccolo WHERE clauses — never evaluated in
Python over loaded rows.

scim2-models parses the filter; `FilterCompiler` walks its tree and emits SQL against the
columns `FilterableAttribute`s name. An attribute not in the table is a 400 `invalidFilter`,
never a silently ignored clause.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from piccolo.columns import Column
from piccolo.columns.combination import And, Or
from piccolo.custom_types import Combinable
from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from definewtf.sql import is_not_true, like, like_exact
from definewtf.text import fold

#: Documented limits (a filter is parsed before it is compiled; both bound the work).
MAX_FILTER_LENGTH = 4096
MAX_FILTER_DEPTH = 32

ValueKind = Literal["string", "boolean", "uuid"]


@dataclass(frozen=True, slots=True)
class FilterableAttribute:
    """How one SCIM attribute is stored: its column, its type and whether values compare
    case-exactly. Case-insensitive attributes are stored folded (`definewtf.text.fold`)."""

    column: Column
    kind: ValueKind = "string"
    case_exact: bool = False


def _depth(node: Any) -> int:
    if isinstance(node, LogicalExpr):
        return 1 + max((_depth(term) for term in node.terms), default=0)
    if isinstance(node, Not):
        return 1 + _depth(node.expr)
    if isinstance(node, ValuePath):
        return 1 + _depth(node.val_filter)
    return 1


def _bracket_depth(expression: str) -> int:
    """Deepest nesting of ( and [ outside string literals: checked before parsing, since the
    parser drops grouping parentheses from the tree (and recursion is what we bound)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in expression:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    return deepest


def parse_filter(expression: str) -> ScimFilter[Any]:
    if len(expression) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(detail=f"filter longer than {MAX_FILTER_LENGTH} characters")
    if _bracket_depth(expression) > MAX_FILTER_DEPTH:
        raise InvalidFilterException(detail=f"filter nested deeper than {MAX_FILTER_DEPTH}")
    try:
        parsed: ScimFilter[Any] = ScimFilter(expression)
    except InvalidFilterException:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidFilterException(detail=f"malformed filter: {exc}") from exc
    if _depth(parsed.ast) > MAX_FILTER_DEPTH:
        raise InvalidFilterException(detail=f"filter nested deeper than {MAX_FILTER_DEPTH}")
    return parsed


class FilterCompiler(FilterVisitor[Combinable]):
    def __init__(self, attributes: dict[str, FilterableAttribute], default_urn: str) -> None:
        self._attributes = attributes
        self._default_urn = default_urn.lower()

    def compile(self, expression: str) -> Combinable:
        return self.visit(parse_filter(expression).ast)

    def _attribute(self, path: AttrPath) -> FilterableAttribute:
        name = path.attr if path.sub_attr is None else f"{path.attr}.{path.sub_attr}"
        uri = (path.uri or "").lower()
        key = name.lower() if uri in ("", self._default_urn) else f"{uri}:{name.lower()}"
        attribute = self._attributes.get(key)
        if attribute is None:
            full = f"{path.uri}:{name}" if path.uri else name
            raise InvalidFilterException(detail=f"cannot filter on attribute {full!r}")
        return attribute

    def visit_logical_expr(self, node: LogicalExpr) -> Combinable:
        clauses = [self.visit(term) for term in node.terms]
        combine = And if node.op == LogicalOperator.and_ else Or
        result = clauses[0]
        for clause in clauses[1:]:
            result = combine(result, clause)
        return result

    def visit_not(self, node: Not) -> Combinable:
        return is_not_true(self.visit(node.expr))

    def visit_present(self, node: Present) -> Combinable:
        attribute = self._attribute(node.attr_path)
        present = attribute.column.is_not_null()
        if attribute.kind == "string":
            return present & (attribute.column != "")
        return present

    def visit_value_path(self, node: ValuePath) -> Combinable:
        raise InvalidFilterException(
            detail=f"value filters on {node.attr_path.attr!r} are not supported yet"
        )

    def visit_comparison(self, node: Comparison) -> Combinable:
        attribute = self._attribute(node.attr_path)
        value = _typed(attribute, node)
        column, op = attribute.column, node.op
        if op == CompareOperator.ne:
            return is_not_true(column == value)
        if op == CompareOperator.eq:
            return column.is_null() if value is None else column == value
        if attribute.kind != "string":
            raise InvalidFilterException(
                detail=f"operator {op.value!r} does not apply to a {attribute.kind} attribute"
            )
        if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
            match = like_exact if attribute.case_exact else like
            return match(column, op.value, value)  # type: ignore[arg-type]
        ordering = {
            CompareOperator.gt: column.__gt__,
            CompareOperator.ge: column.__ge__,
            CompareOperator.lt: column.__lt__,
            CompareOperator.le: column.__le__,
        }
        return ordering[op](value)


def _typed(attribute: FilterableAttribute, node: Comparison) -> Any:
    value = node.value
    if value is None:
        return None
    if attribute.kind == "boolean":
        if isinstance(value, bool):
            return value
        raise InvalidFilterException(detail="expected true or false")
    if not isinstance(value, str):
        raise InvalidFilterException(detail=f"expected a string for {node.attr_path.attr!r}")
    if attribute.kind == "uuid":
        try:
            return uuid.UUID(value)
        except ValueError:
            # No resource has a malformed id: the comparison is simply false.
            return uuid.UUID(int=0)
    return value if attribute.case_exact else fold(value)
