"""The schema registry: which SCIM attribute is stored where, and how it compares.

Keys are lower-cased attribute paths (`name.givenname`); extension attributes are keyed by
`urn:…:attribute`. The filter compiler reads this; later, projection, sorting and PATCH
typing read it too, so an attribute is described once.
"""

from __future__ import annotations

from scim2_models import EnterpriseUser, User

from definewtf import tables
from scim_facade.filters import FilterableAttribute

USER_SCHEMA = str(User.__schema__)
ENTERPRISE_USER_SCHEMA = str(EnterpriseUser.__schema__)

USER_FILTER_ATTRIBUTES: dict[str, FilterableAttribute] = {
    "id": FilterableAttribute(tables.User.id, kind="uuid", case_exact=True),
    # userName is case-insensitive (RFC 7643 §4.1.1): compared on the folded column.
    "username": FilterableAttribute(tables.User.user_name_ci),
    # externalId is caseExact (RFC 7643 §3.1).
    "externalid": FilterableAttribute(tables.User.external_id, case_exact=True),
    "active": FilterableAttribute(tables.User.active, kind="boolean"),
}
