"""Filter attribute maps (kept apart from the adapters: django-scim2's adapters module reads
the user filter parser from the settings while it is imported)."""

from __future__ import annotations

from django_scim import filters


class UserFilterQuery(filters.UserFilterQuery):
    attr_map = {
        **filters.UserFilterQuery.attr_map,
        ("externalId", None, None): "scim_external_id",
        ("title", None, None): "title",
    }


class GroupFilterQuery(filters.GroupFilterQuery):
    attr_map = {("displayName", None, None): "scim_display_name"}
