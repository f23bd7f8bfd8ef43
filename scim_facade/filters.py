"""SCIM filters (RFC 7644 §3.4.2.2) compiled to SQL — never evaluated over loaded rows.

scim2-models parses the filter; `UserFilterCompiler` walks its tree and emits Piccolo WHERE
clauses, the same SQL on SQLite and PostgreSQL:

- attributes held by a column (id, userName, externalId, active, meta.created,
  meta.lastModified) compare on that column, userName on its folded copy;
- every other attribute compares through `user_value` rows, as
  `app_user.id IN (SELECT "user" FROM user_value WHERE tenant = ? AND attr = ? AND …)`: an
  uncorrelated semi-join served by the `(tenant, attr, sub, value_ci)` index;
- a value filter (`emails[type eq "work" and value co "@x"]`) must hold on one entry: its
  terms become sets of (user, entry) pairs combined with INTERSECT / UNION / EXCEPT.

Case-insensitive attributes compare folded values (`definewtf.text.fold`, Unicode-aware on both
engines); LIKE patterns escape `%`, `_` and `\\`. `not` and `ne` use two-valued logic: an
unassigned attribute matches `not (title eq "x")`. Anything the registry does not know, or a
filter over the documented limits, is a 400 `invalidFilter`, never an ignored clause.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable
from piccolo.querystring import QueryString
from scim2_models import InvalidFilterException, InvalidValueException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from definewtf.db import planned_each_time, planned_once
from definewtf.registry import (
    GROUP_ATTRIBUTES,
    GROUP_SCHEMA,
    MAX_INDEXED_LENGTH,
    USER_ATTRIBUTES,
    USER_SCHEMA,
    AttributeSpec,
)
from definewtf.sql import (
    SortKey,
    ValueOrder,
    bound_like,
    column_expression,
    compare,
    is_not_true,
    like,
    like_exact,
    like_pattern,
)
from definewtf.text import fold, is_storable
from scim_facade.requests import ListQuery

#: Documented limits: characters, nesting of ( and [, and comparisons (every attribute test,
#: inside value filters too). IdPs send one to three terms; the term limit also bounds the
#: SQL (`SEMI_JOINS_APART`).
MAX_FILTER_LENGTH = 4096
MAX_FILTER_DEPTH = 32
MAX_FILTER_TERMS = 50

_ORDERING = {
    CompareOperator.gt: ">",
    CompareOperator.ge: ">=",
    CompareOperator.lt: "<",
    CompareOperator.le: "<=",
}
_LIKE = (CompareOperator.co, CompareOperator.sw, CompareOperator.ew)


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


#: A string value as the filter grammar reads it (scim2-models' STRING token).
_STRING = re.compile(r'"(?:[^"\\\x00-\x1F]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"')
#: What stands for the string value of a one-comparison filter while its shape is parsed.
_PLACEHOLDER = '"_"'


def parse_filter(expression: str) -> FilterNode:
    """The syntax tree of a filter, or invalidFilter.

    A filter with one string value (`userName eq "…"`, the hundreds of thousands of lookups of
    an initial sync) is parsed once per shape: the value is swapped for a placeholder, the
    shape parsed by scim2-models and cached, and the value put back into its comparison. The
    grammar's lexer sees the same tokens either way; Lark's parse was a tenth of a lookup's
    CPU (py-spy)."""
    if len(expression) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(detail=f"filter longer than {MAX_FILTER_LENGTH} characters")
    literals = _STRING.findall(expression)
    if len(literals) == 1:
        shape = _parsed_shape(_STRING.sub(_PLACEHOLDER, expression))
        if isinstance(shape, Comparison) and shape.value == "_":
            return dataclasses.replace(shape, value=json.loads(literals[0]))
    return _parse(expression)


@functools.lru_cache(maxsize=256)
def _parsed_shape(template: str) -> FilterNode | None:
    try:
        return _parse(template)
    except InvalidFilterException:
        return None  # the whole filter is parsed again, for its own error message


def _parse(expression: str) -> FilterNode:
    if _bracket_depth(expression) > MAX_FILTER_DEPTH:
        raise InvalidFilterException(detail=f"filter nested deeper than {MAX_FILTER_DEPTH}")
    try:
        parsed: ScimFilter[Any] = ScimFilter(expression)
    except InvalidFilterException:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidFilterException(detail=f"malformed filter: {exc}") from exc
    if _terms(parsed.ast) > MAX_FILTER_TERMS:
        raise InvalidFilterException(detail=f"filter has more than {MAX_FILTER_TERMS} terms")
    return parsed.ast


def _terms(node: FilterNode) -> int:
    if isinstance(node, LogicalExpr):
        return sum(_terms(term) for term in node.terms)
    if isinstance(node, Not):
        return _terms(node.expr)
    if isinstance(node, ValuePath):
        return _terms(node.val_filter)
    return 1


def resolve(
    registry: dict[str, AttributeSpec], path: AttrPath, *, default_urn: str, within: str = ""
) -> AttributeSpec:
    """The spec an attribute path names (case-insensitively), or invalidFilter."""
    name = path.attr if path.sub_attr is None else f"{path.attr}.{path.sub_attr}"
    uri = (path.uri or "").lower()
    key = name.lower() if uri in ("", default_urn.lower()) else f"{uri}:{name.lower()}"
    if within:
        key = f"{within}.{key}"
    spec = registry.get(key)
    if spec is None:
        shown = f"{path.uri}:{name}" if path.uri else name
        raise InvalidFilterException(detail=f"unknown or unfilterable attribute {shown!r}")
    return spec


def _text_operand(spec: AttributeSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidFilterException(detail=f"{spec.key!r} compares with a string")
    if len(value) > MAX_INDEXED_LENGTH:
        raise InvalidFilterException(detail=f"filter values are at most {MAX_INDEXED_LENGTH} long")
    if not is_storable(value):  # the parser decodes `\u0000` and `\ud800` escapes
        raise InvalidFilterException(detail="filter values must not contain NUL or lone surrogates")
    return value if spec.case_exact else fold(value)


def _boolean_operand(spec: AttributeSpec, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidFilterException(detail=f"{spec.key!r} compares with true or false")
    return value


def _datetime_operand(spec: AttributeSpec, value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidFilterException(detail=f"{spec.key!r} compares with a dateTime") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


#: An AND of more semi-joins than this is answered by one, on the INTERSECT of their owners.
#: PostgreSQL plans each `id IN (…)` of an AND as a relation of one join problem, searched
#: exhaustively up to 12 (geqo_threshold): 16 took 77 ms to plan and 50 up to 4.6 s (10,000
#: users), against 61 ms and about 200 ms to run the INTERSECT (each term's owners read
#: whole: 4 ms for one that every user matches). Up to here the semi-joins plan in a few ms,
#: and let the planner start from the term that matches fewest.
SEMI_JOINS_APART = 12


class _OwnerIn(WhereRaw):
    """`owner IN (owners)`: a semi-join, whose `owners` (one column) an AND may intersect."""

    __slots__ = ("owners",)

    def __init__(self, owner: str, owners: QueryString) -> None:
        super().__init__(f"{owner} IN ({{}})", owners)
        self.owners = owners


class FilterCompiler(FilterVisitor[Combinable]):
    """Compiles one filter for one tenant's resources of one type. Subclasses say where the
    values of non-column attributes are (`_rows`) and how one is compared (`_value_condition`).
    """

    OWNER: str  # the resource table's id column, as SQL
    REGISTRY: dict[str, AttributeSpec]
    DEFAULT_URN: str

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        self.registry = self.REGISTRY
        self._aliases = itertools.count()
        #: The filter compiled has a substring, prefix or suffix search (`co`, `sw`, `ew`)
        #: outside a value filter's brackets: a statement to plan once
        #: (`definewtf.db.planned_once`), whose plan a pattern's value does not change (a
        #: trigram index or a btree range), and which PostgreSQL would otherwise plan at
        #: every bind. A pattern inside brackets (`emails[value co "x"]`) is not counted:
        #: its plan was not measured.
        self.searches_patterns = False
        #: The filter compiled tests values kept in rows of their own (`user_value`,
        #: `group_member`): how many rows a value names is the value's (everyone's title or
        #: one user's), so its statements are planned for the values bound, each time
        #: (`definewtf.db.planned_each_time`).
        self.reads_values = False

    def planning(self) -> contextlib.AbstractContextManager[None]:
        """How the statements of the filter compiled are to be planned (`definewtf.db`)."""
        if self.reads_values:
            return planned_each_time()
        if self.searches_patterns:
            return planned_once()
        return contextlib.nullcontext()

    def compile(self, expression: str) -> Combinable:
        return self.visit(parse_filter(expression))

    def sort_key(self, sort_by: str, *, descending: bool) -> SortKey:
        """ORDER BY for `sortBy` (RFC 7644 §3.4.2.3): a column, or the least value of the
        value the resource type's `_value_sort` gives."""
        try:
            node = parse_filter(f"{sort_by} pr")
        except InvalidFilterException as exc:
            raise InvalidValueException(detail=f"invalid sortBy {sort_by!r}") from exc
        if not isinstance(node, Present):
            raise InvalidValueException(detail=f"invalid sortBy {sort_by!r}")
        try:
            spec = self._spec(node.attr_path)
        except InvalidFilterException as exc:
            raise InvalidValueException(detail=f"cannot sort by {sort_by!r}") from exc
        if spec.column is not None:
            expression = column_expression(spec.column)
            return SortKey(expression, descending, nullable=not spec.never_null)
        return self._value_sort(spec, sort_by, descending=descending)

    def _spec(self, path: AttrPath) -> AttributeSpec:
        spec = resolve(self.registry, path, default_urn=self.DEFAULT_URN)
        if spec.kind == "complex" and spec.multi_valued:
            # RFC 7644 §3.4.2.2: `emails co "x"` compares each email's value.
            value = self.registry.get(f"{spec.key}.value")
            if value is not None:
                return value
        return spec

    # -- boolean structure ---------------------------------------------------------------

    def visit_logical_expr(self, node: LogicalExpr) -> Combinable:
        # One flat (a AND b AND c …): pairwise nesting would give a 1,000-term chain 1,000
        # levels of parentheses, past SQLite's parser stack.
        clauses = [self.visit(term) for term in node.terms]
        if node.op == LogicalOperator.and_:
            clauses = self._semi_joins_bounded(clauses)
        keyword = " AND " if node.op == LogicalOperator.and_ else " OR "
        sql = "(" + keyword.join("{}" for _ in clauses) + ")"
        return WhereRaw(sql, *(clause.querystring for clause in clauses))

    def _semi_joins_bounded(self, clauses: list[Combinable]) -> list[Combinable]:
        """An AND's clauses, its semi-joins (`OWNER IN (…)`) one INTERSECT of their owners
        if it holds more than `SEMI_JOINS_APART`."""
        semi_joins = [clause for clause in clauses if isinstance(clause, _OwnerIn)]
        if len(semi_joins) <= SEMI_JOINS_APART:
            return clauses
        owners = QueryString(
            " INTERSECT ".join("{}" for _ in semi_joins), *(join.owners for join in semi_joins)
        )
        return [*(c for c in clauses if not isinstance(c, _OwnerIn)), self._owner_in(owners)]

    def visit_not(self, node: Not) -> Combinable:
        return is_not_true(self.visit(node.expr))

    # -- leaves ----------------------------------------------------------------------------

    def visit_present(self, node: Present) -> Combinable:
        spec = resolve(self.registry, node.attr_path, default_urn=self.DEFAULT_URN)
        if spec.column is not None:
            present = spec.column.is_not_null()
            return present & (spec.column != "") if spec.kind == "string" else present
        return self._owner_in(self._rows(spec.attr, self._present_condition(spec), pairs=False))

    def visit_comparison(self, node: Comparison) -> Combinable:
        self.searches_patterns |= node.op in _LIKE
        spec = self._spec(node.attr_path)
        if spec.column is not None:
            return self._column_comparison(spec, node.op, node.value)
        if node.op == CompareOperator.ne:
            # Two-valued: no value of the attribute equals it (unassigned included).
            return is_not_true(self.visit_comparison(_as_eq(node)))
        rows = self._rows(spec.attr, self._value_condition(spec, node), pairs=False)
        return self._owner_in(rows)

    def visit_value_path(self, node: ValuePath) -> Combinable:
        parent = resolve(self.registry, node.attr_path, default_urn=self.DEFAULT_URN)
        if parent.kind != "complex" or parent.column is not None:
            raise InvalidFilterException(detail=f"{parent.key!r} has no sub-attributes to filter")
        entries = self._entries(parent, node.val_filter)
        alias = f"e{next(self._aliases)}"
        owners = QueryString(f"SELECT {alias}.owner FROM ({{}}) AS {alias}", entries)  # noqa: S608
        return self._owner_in(owners)

    # -- SQL pieces ----------------------------------------------------------------------

    def _rows(self, attr: str, condition: QueryString, *, pairs: bool) -> QueryString:
        """`SELECT owner[, entry]` of the value rows of `attr` that meet `condition`."""
        raise NotImplementedError

    def _present_condition(self, spec: AttributeSpec) -> QueryString:
        raise NotImplementedError

    def _value_sort(self, spec: AttributeSpec, sort_by: str, *, descending: bool) -> SortKey:
        raise InvalidValueException(detail=f"cannot sort by {sort_by!r}")

    def _owner_in(self, owners: QueryString) -> Combinable:
        self.reads_values = True
        return _OwnerIn(self.OWNER, owners)

    def _entries(self, parent: AttributeSpec, node: FilterNode) -> QueryString:
        """The (user, entry) pairs of `parent` whose entry satisfies `node`."""
        if isinstance(node, LogicalExpr):
            keyword = " INTERSECT " if node.op == LogicalOperator.and_ else " UNION "
            parts = [self._wrapped(self._entries(parent, term)) for term in node.terms]
            return QueryString(keyword.join("{}" for _ in parts), *parts)
        if isinstance(node, Not) or (
            isinstance(node, Comparison) and node.op == CompareOperator.ne
        ):
            # Entries of the attribute that do not satisfy the inner test (two-valued).
            inner = node.expr if isinstance(node, Not) else _as_eq(node)
            every = self._rows(parent.attr, QueryString("1 = 1"), pairs=True)
            return QueryString("{} EXCEPT {}", every, self._wrapped(self._entries(parent, inner)))
        if isinstance(node, (Comparison, Present)):
            spec = resolve(
                self.registry, node.attr_path, default_urn=self.DEFAULT_URN, within=parent.key
            )
            if isinstance(node, Present):
                condition = self._present_condition(spec)
            else:
                condition = self._value_condition(spec, node)
            return self._rows(parent.attr, condition, pairs=True)
        raise InvalidFilterException(detail="value filters cannot nest")

    def _wrapped(self, query: QueryString) -> QueryString:
        alias = f"s{next(self._aliases)}"
        return QueryString(f"SELECT {alias}.owner, {alias}.entry FROM ({{}}) AS {alias}", query)  # noqa: S608

    def _value_condition(self, spec: AttributeSpec, node: Comparison) -> QueryString:
        """The condition on a value row `v` for one comparison."""
        raise NotImplementedError

    def _column_comparison(self, spec: AttributeSpec, op: CompareOperator, raw: Any) -> Combinable:
        column = spec.column
        assert column is not None
        if raw is None:  # `eq null` / `ne null`: unassigned
            if op == CompareOperator.eq:
                return column.is_null()
            if op == CompareOperator.ne:
                return column.is_not_null()
            raise InvalidFilterException(detail=f"{op.value!r} does not apply to null")
        value: Any
        if spec.kind == "boolean":
            if op not in (CompareOperator.eq, CompareOperator.ne):
                raise InvalidFilterException(detail=f"{op.value!r} does not apply to a boolean")
            value = _boolean_operand(spec, raw)
        elif spec.kind == "uuid":
            if op not in (CompareOperator.eq, CompareOperator.ne):
                raise InvalidFilterException(detail=f"{op.value!r} does not apply to an id")
            try:
                value = uuid.UUID(str(raw))
            except ValueError:
                value = uuid.UUID(int=0)  # no resource has a malformed id: simply no match
        elif spec.kind == "datetime":
            if op in _LIKE:
                raise InvalidFilterException(detail=f"{op.value!r} does not apply to a dateTime")
            value = _datetime_operand(spec, raw)
        else:
            value = _text_operand(spec, raw)
        equal = compare(column, "=", value)
        if op == CompareOperator.eq:
            return equal
        if op == CompareOperator.ne:
            return is_not_true(equal)
        if op in _LIKE:
            match = like_exact if spec.case_exact else like
            return match(column, op.value, value)  # type: ignore[arg-type]
        return compare(column, _ORDERING[op], value)


class UserFilterCompiler(FilterCompiler):
    """Users: non-column attributes are `user_value` rows."""

    OWNER = '"app_user"."id"'
    REGISTRY = USER_ATTRIBUTES
    DEFAULT_URN = USER_SCHEMA

    def _rows(self, attr: str, condition: QueryString, *, pairs: bool) -> QueryString:
        columns = 'v."user" AS owner, v.entry AS entry' if pairs else 'v."user" AS owner'
        # Only constants are formatted in; every value is a bound parameter.
        return QueryString(
            f"SELECT {columns} FROM user_value v "  # noqa: S608
            "WHERE v.tenant = {} AND v.attr = {} AND ({})",
            self.tenant_id,
            attr,
            condition,
        )

    def _present_condition(self, spec: AttributeSpec) -> QueryString:
        if spec.sub:
            return QueryString("v.sub = {} AND v.value <> ''", spec.sub)
        return QueryString("v.value <> ''")

    def _value_sort(self, spec: AttributeSpec, sort_by: str, *, descending: bool) -> SortKey:
        """The least value of the attribute among the user's rows (folded unless caseExact);
        of a single-valued attribute, its one value, found in value order in the index of
        `user_value` (tenant, attr, sub, value or value_ci)."""
        if not spec.indexed or spec.kind == "complex":
            raise InvalidValueException(detail=f"cannot sort by {sort_by!r}")
        column = "value" if spec.case_exact else "value_ci"

        def owned(alias: str) -> QueryString:
            # Only constants are formatted in; every value is a bound parameter.
            return QueryString(
                f'{alias}.tenant = {{}} AND {alias}."user" = {self.OWNER} '
                f"AND {alias}.attr = {{}} AND {alias}.sub = {{}}",
                self.tenant_id,
                spec.attr,
                spec.sub,
            )

        least = QueryString(
            f"(SELECT MIN(v.{column}) FROM user_value v WHERE {{}})",  # noqa: S608
            owned("v"),
        )
        if spec.multi_valued:
            return SortKey(least, descending)
        walk = ValueOrder(
            values="user_value sort_value",
            matches=owned("sort_value"),
            value=f"sort_value.{column}",
            absent=QueryString("NOT EXISTS (SELECT 1 FROM user_value v WHERE {})", owned("v")),
        )
        return SortKey(least, descending, by_value=walk)

    def _value_condition(self, spec: AttributeSpec, node: Comparison) -> QueryString:
        """The condition on a `user_value` row `v` for one comparison."""
        if not spec.indexed:
            raise InvalidFilterException(detail=f"{spec.key!r} cannot be filtered")
        op, raw = node.op, node.value
        column = "v.value" if spec.case_exact else "v.value_ci"
        if spec.kind == "boolean":
            if op != CompareOperator.eq:
                raise InvalidFilterException(detail=f"{op.value!r} does not apply to a boolean")
            operand = "true" if _boolean_operand(spec, raw) else "false"
            return QueryString("v.sub = {} AND v.value = {}", spec.sub, operand)
        operand = _text_operand(spec, raw)
        if op == CompareOperator.eq:
            return QueryString(f"v.sub = {{}} AND {column} = {{}}", spec.sub, operand)
        if op in _LIKE:
            pattern = like_pattern(op.value, operand)  # type: ignore[arg-type]
            condition = QueryString(f"v.sub = {{}} AND {column} {bound_like()}", spec.sub, pattern)
            if spec.case_exact:  # SQLite's LIKE ignores ASCII case: settle it exactly
                condition = QueryString("{} AND {}", condition, _exact_match(op, operand))
            return condition
        return QueryString(f"v.sub = {{}} AND {column} {_ORDERING[op]} {{}}", spec.sub, operand)


class GroupFilterCompiler(FilterCompiler):
    """Groups: the one non-column attribute is `members`, searched in `group_member`."""

    OWNER = '"app_group"."id"'
    REGISTRY = GROUP_ATTRIBUTES
    DEFAULT_URN = GROUP_SCHEMA

    def _rows(self, attr: str, condition: QueryString, *, pairs: bool) -> QueryString:
        columns = 'v."group" AS owner, v."user" AS entry' if pairs else 'v."group" AS owner'
        return QueryString(
            f"SELECT {columns} FROM group_member v WHERE v.tenant = {{}} AND ({{}})",  # noqa: S608
            self.tenant_id,
            condition,
        )

    def _present_condition(self, spec: AttributeSpec) -> QueryString:
        return QueryString("1 = 1")

    def _value_condition(self, spec: AttributeSpec, node: Comparison) -> QueryString:
        if spec.key != "members.value" or node.op != CompareOperator.eq:
            raise InvalidFilterException(detail="members compare by value with eq (or ne)")
        try:
            member = uuid.UUID(str(node.value))
        except ValueError:
            return QueryString("1 = 0")  # no user has a malformed id
        return QueryString('v."user" = {}', member)


def compile_query(compiler: FilterCompiler, query: ListQuery) -> dict[str, Any]:
    """The `criteria`, `sort`, `offset` and `limit` of a list request, for `list_users` /
    `list_groups`."""
    criteria = None if query.filter is None else compiler.compile(query.filter)
    sort = None
    if query.sort_by is not None:
        sort = compiler.sort_key(query.sort_by, descending=query.descending)
    return {
        "criteria": criteria,
        "sort": sort,
        "offset": query.start_index - 1,
        "limit": query.count,
    }


def _exact_match(op: CompareOperator, operand: str) -> QueryString:
    """Case-exact co / sw / ew on `v.value`, the same on SQLite and PostgreSQL."""
    if op == CompareOperator.sw:
        return QueryString("substr(v.value, 1, {}) = {}", len(operand), operand)
    if op == CompareOperator.ew:
        return QueryString("substr(v.value, length(v.value) - {} + 1) = {}", len(operand), operand)
    return QueryString("replace(v.value, {}, '') <> v.value", operand)


def _as_eq(node: Comparison) -> Comparison:
    return Comparison(attr_path=node.attr_path, op=CompareOperator.eq, value=node.value)
