"""django-scim2's user adapter, plus `title` (read, written, and replaceable by PATCH)."""

from __future__ import annotations

from typing import Any

from django_peer.filters import UserFilterQuery
from django_scim import adapters


class SCIMUser(adapters.SCIMUser):
    ATTR_MAP = UserFilterQuery.attr_map

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = super().to_dict()
        d["title"] = self.obj.title
        return d

    def from_dict(self, d: dict[str, Any]) -> None:
        super().from_dict(d)
        self.obj.title = d.get("title") or ""
