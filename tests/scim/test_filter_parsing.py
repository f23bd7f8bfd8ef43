"""`parse_filter` parses a one-value filter by its shape (the value swapped for a placeholder,
the shape cached): the tree must be the one scim2-models builds from the filter itself, and a
filter it refuses must still be refused."""

from __future__ import annotations

import pytest
from scim2_models import InvalidFilterException, ScimFilter

from scim_facade.filters import _parsed_shape, parse_filter

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

PARSED = [
    'userName eq "bjensen@example.com"',
    'userName Eq "bjensen@example.com"',
    '  externalId   eq   "0b4c-11"  ',
    'name.givenName sw "J"',
    'title co ""',
    'userName eq "quote \\" and backslash \\\\ inside"',
    'displayName eq "\\u00e9t\\u00e9 \\/ \\b\\f\\n\\r\\t"',
    'displayName eq "été"',
    f'{ENTERPRISE}:department eq "R&D"',
    f'{ENTERPRISE}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
    'emails[type eq "work"]',
    'emails[type eq "work"].value eq "a@b.c"',
    'emails[type eq "work" and value co "@b"]',
    'not (title eq "x")',
    '(userName eq "a")',
    'userName eq "a" or userName eq "b"',
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    "active eq true",
    "title pr",
    "age gt 5",
]

REFUSED = [
    'userName eq "a',
    'userName eq ""a"',
    'userName eq "a" "b"',
    'userName "a"',
    'userName xx "a"',
    'eq "a"',
    'userName eq "bad \\x escape"',
    'userName eq "control \x01 character"',
    'userName eq "a")',
    "",
]


@pytest.mark.parametrize("expression", PARSED)
def test_a_filter_parses_to_the_tree_scim2_models_builds(expression: str) -> None:
    assert parse_filter(expression) == ScimFilter(expression).ast


def test_a_lookup_parses_its_shape_once() -> None:
    _parsed_shape.cache_clear()
    for index in range(20):
        parse_filter(f'userName eq "user{index}@example.com"')
    assert _parsed_shape.cache_info().misses == 1


@pytest.mark.parametrize("expression", REFUSED)
def test_a_malformed_filter_is_refused(expression: str) -> None:
    with pytest.raises(InvalidFilterException):
        ScimFilter(expression)
    with pytest.raises(InvalidFilterException):
        parse_filter(expression)
