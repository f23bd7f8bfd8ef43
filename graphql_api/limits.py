"""Limits that keep an abusive query from becoming a 5xx or a long stall (issue: GraphQL
limits). Each rejects the document in validation, before any resolver runs, with a readable
GraphQL error.

- depth: at most MAX_DEPTH nested selections;
- aliases: at most MAX_ALIASES (aliases multiply work without adding depth);
- tokens: at most MAX_TOKENS in the document (parser work);
- cost: each field costs 1, multiplied by the `first:` of every list it is inside, capped at
  MAX_COST — `users(first: 100) { groups { … } }` costs per row, not per query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

MAX_DEPTH = 10
MAX_ALIASES = 20
MAX_TOKENS = 2000
MAX_COST = 20_000
#: What a list without `first:` is assumed to return (the server's default page).
DEFAULT_LIST_SIZE = 50


class CostLimitRule(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        cost = self._cost(node.selection_set, multiplier=1, seen=set())
        if cost > MAX_COST:
            self.report_error(
                GraphQLError(
                    f"query cost {cost} is above the limit of {MAX_COST}: ask for smaller "
                    "pages (first:) or fewer nested lists",
                    node,
                )
            )

    def _cost(self, selection_set: SelectionSetNode | None, multiplier: int, seen: set[str]) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                size = self._page_size(selection)
                total += multiplier
                inner = multiplier * size if size else multiplier
                total += self._cost(selection.selection_set, inner, seen)
            elif isinstance(selection, InlineFragmentNode):
                total += self._cost(selection.selection_set, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is not None and name not in seen:
                    total += self._cost(fragment.selection_set, multiplier, seen | {name})
            if total > MAX_COST:
                return total
        return total

    @staticmethod
    def _page_size(field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value == "first":
                if isinstance(argument.value, IntValueNode):
                    return max(1, int(argument.value.value))
                if isinstance(argument.value, VariableNode):
                    return DEFAULT_LIST_SIZE * 2  # unknown at validation: assume a large page
        return 0


#: The rules, built once: a query validated before is then the same (document, rules) key of
#: Strawberry's ValidationCache, and its validation is not run again. (The limiter extensions
#: built new rule classes for each request, so the cache could never hit.)
_RULES: list[type[ASTValidationRule]] = [
    depth_rule(MAX_DEPTH, None),
    aliases_rule(MAX_ALIASES),
    CostLimitRule,
]


def extensions() -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    return [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(_RULES),
        lambda: ValidationCache(maxsize=256),
    ]
