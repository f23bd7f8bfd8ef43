"""PATCH (RFC 7644 §3.5.2) on scim2-models, plus what IdPs really send (DESIGN.md §5).

scim2-models validates the PatchOp and applies it to the resource model; before that,
`normalize_operations` accepts the IdP dialects the library does not: Entra's and Okta's
`manager` as a plain id string (or an object without `$ref`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Context, PatchOp

from scim_facade.mapping import ScimUser
from scim_facade.registry import ENTERPRISE_USER_SCHEMA
from scim_facade.requests import POLICY, scim_error_of

MANAGER_PATH = f"{ENTERPRISE_USER_SCHEMA}:manager".lower()


def normalize_manager(value: Any, users_url: str) -> Any:
    """`"id"` or `{"value": "id"}` → `{"value": "id", "$ref": ".../Users/id"}`."""
    if isinstance(value, str):
        value = {"value": value}
    if isinstance(value, dict) and value.get("value") and not value.get("$ref"):
        return {**value, "$ref": f"{users_url}/{value['value']}"}
    return value


def _normalize_operation(operation: Any, users_url: str) -> Any:
    if not isinstance(operation, dict):
        return operation
    path = operation.get("path")
    value = operation.get("value")
    if isinstance(path, str) and path.lower() == MANAGER_PATH:
        return {**operation, "value": normalize_manager(value, users_url)}
    if path is None and isinstance(value, dict):
        fixed = dict(value)
        for key, item in value.items():
            if key.lower() == MANAGER_PATH:
                fixed[key] = normalize_manager(item, users_url)
            elif key.lower() == ENTERPRISE_USER_SCHEMA.lower() and isinstance(item, dict):
                fixed[key] = {
                    k: normalize_manager(v, users_url) if k.lower() == "manager" else v
                    for k, v in item.items()
                }
        return {**operation, "value": fixed}
    return operation


def normalize_operations(payload: dict[str, Any], users_url: str) -> dict[str, Any]:
    operations = payload.get("Operations", payload.get("operations"))
    if not isinstance(operations, list):
        return payload
    return {**payload, "Operations": [_normalize_operation(op, users_url) for op in operations]}


def parse_patch(payload: dict[str, Any], users_url: str) -> PatchOp[ScimUser]:
    try:
        return PatchOp[ScimUser].model_validate(
            normalize_operations(payload, users_url),
            scim_ctx=Context.RESOURCE_PATCH_REQUEST,
            scim_policy=POLICY,
        )
    except ValidationError as exc:
        raise scim_error_of(exc) from exc
