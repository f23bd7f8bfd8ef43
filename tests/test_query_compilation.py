"""`definewtf.db.compile_querystring` gives each engine exactly what Piccolo's own compilation
gives, for Piccolo's queries and ours (it only remembers how each template splits)."""

from __future__ import annotations

import uuid

import pytest
from piccolo.querystring import QueryString

from definewtf.db import compile_querystring
from definewtf.tables import AuditEvent, Group, GroupMember, ScimToken, User

TENANT = uuid.uuid4()


def _piccolo_queries() -> list[QueryString]:
    where = (User.tenant == TENANT) & User.deleted_at.is_null() & (User.user_name_ci == "a@x")
    return [
        *User.select(User.id, User.user_name)
        .where(where)
        .order_by(User.created_at)
        .limit(5)
        .querystrings,
        *User.count().where(where).querystrings,
        *Group.update({Group.display_name: "x"}).where(Group.id == TENANT).querystrings,
        *GroupMember.delete().where(GroupMember.group == TENANT).querystrings,
        *ScimToken.select()
        .where(
            (ScimToken.tenant == TENANT)
            & (ScimToken.revoked_at.is_null() | (ScimToken.revoked_at > ScimToken.created_at))
        )
        .querystrings,
        *AuditEvent.select().where(AuditEvent.target_id.is_in(["a", "b", "c"])).querystrings,
    ]


def _templates() -> list[QueryString]:
    return [
        QueryString("SELECT {} + {}", 1, 2),
        QueryString("SELECT '{{}}'::jsonb, {}", "x"),  # escaped braces are literal text
        QueryString("{}", QueryString("SELECT {} FROM t WHERE a = {}", User.id, 3)),
        QueryString("WHERE {} AND {}", QueryString("a = {}", 1), QueryString("b = {}", 2)),
        QueryString("a {} b {} c", 1),  # fewer arguments than placeholders
        QueryString("a {} b", 1, 2),  # more
        QueryString("no placeholders"),
    ]


@pytest.mark.parametrize("engine_type", ["postgres", "sqlite"])
@pytest.mark.parametrize("query", _piccolo_queries() + _templates(), ids=str)
def test_the_same_text_and_arguments_as_piccolo(query: QueryString, engine_type: str) -> None:
    expected = query.compile_string(engine_type=engine_type)
    assert compile_querystring(query, engine_type) == expected
    # Again: the second compilation reads the remembered split.
    assert compile_querystring(query, engine_type) == expected
