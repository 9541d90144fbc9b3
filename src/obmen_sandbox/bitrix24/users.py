"""`user.get`, `user.current`, `methods`, `scope`, `app.info`, `feature.get` (docs/protocols/bitrix24.md).

See §5.6, §6.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from obmen_sandbox.bitrix24 import query
from obmen_sandbox.bitrix24.registry import METHODS, Call, Listed, RestError, method

if TYPE_CHECKING:
    from obmen_sandbox.bitrix24.portal import Portal

__all__: list[str] = []

#: Features `feature.get` reports as available: offline events with confirmation and `auth_connector`.
FEATURES = {"rest_offline_extended": "Y", "rest_auth_connector": "Y"}


def _user(row: Mapping[str, Any]) -> dict[str, Any]:
    """user.get writes ids as strings, ACTIVE as a boolean, UF_DEPARTMENT as ints (D:…/user/user-get.md)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("ACTIVE", "UF_DEPARTMENT", "IS_ADMIN"):
            out[key] = value
        else:
            out[key] = None if value is None else str(value)
    out.pop("IS_ADMIN", None)
    return out


def _resolve(name: str) -> str | None:
    return name.upper()


@method("user.get", scope="user")
def user_get(portal: Portal, call: Call) -> Listed:
    """Employees by FILTER (all prefix operators), sorted by ID unless `sort`/`order` say otherwise."""
    given = call.param("filter") or {}
    if not isinstance(given, Mapping):
        raise RestError("INVALID_ARG_VALUE", "Parameter 'FILTER' must be an array")
    where = dict(given)
    # Top-level user fields are a filter too (`user.get {ID: 5}`), as in the docs' examples.
    for key, value in call.params.items():
        if key.upper() not in ("FILTER", "SORT", "ORDER", "START", "ADMIN_MODE", "SELECT"):
            where[key] = value
    active = where.pop("ACTIVE", where.pop("active", None))
    rows = [row for _, row in portal.table("user") if query.matches(row, where, _resolve)]
    if active is not None:
        wanted = str(active).lower() in ("true", "1", "y")
        rows = [row for row in rows if bool(row.get("ACTIVE")) == wanted]
    sort = call.param("sort")
    if sort:
        rows = query.sort_rows(rows, {str(sort): str(call.param("order") or "ASC")}, _resolve)
    got = query.page(rows, query.parse_start(call.param("start")))
    # user.get also names the account type, user.current does not (D:…/user/user-get.md, user-current.md).
    return Listed(
        [_user(r) | {"USER_TYPE": r.get("USER_TYPE", "employee")} for r in got.rows], got.total, got.next
    )


@method("user.current", scope="basic")
def user_current(portal: Portal, call: Call) -> dict[str, Any]:
    """The calling user."""
    row = portal.table("user").get(call.user_id)
    if row is None:
        raise RestError("NO_AUTH_FOUND", "Wrong authorization data", 401)
    return _user(row)


@method("methods", scope="basic")
def methods(portal: Portal, call: Call) -> list[str]:
    """Method names available to the caller (`full=true`: every method)."""
    if str(call.param("full") or "").lower() in ("true", "1", "y"):
        return sorted(m.name for m in METHODS.values())
    return sorted(m.name for m in METHODS.values() if m.scope == "basic" or m.scope in call.scopes)


@method("scope", scope="basic")
def scope(portal: Portal, call: Call) -> list[str]:
    """The caller's scopes (`full=true`: every scope of the portal)."""
    every = {m.scope for m in METHODS.values()}
    if str(call.param("full") or "").lower() in ("true", "1", "y"):
        return sorted(every)
    return sorted(every & set(call.scopes) | {"basic"})


@method("app.info", scope="basic")
def app_info(portal: Portal, call: Call) -> dict[str, Any]:
    """The application (or webhook) and the portal's licence."""
    base = {"LICENSE": "ru_project", "LICENSE_TYPE": "project", "LICENSE_FAMILY": "project"}
    if call.app is None:
        return {"SCOPE": sorted(call.scopes), **base}
    number = list(portal.auth.apps).index(call.app) + 1
    return {
        "ID": number,
        "CODE": call.app,
        "VERSION": 1,
        "STATUS": "L",
        "INSTALLED": True,
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": "ru",
        **base,
    }


@method("feature.get", scope="basic")
def feature_get(portal: Portal, call: Call) -> dict[str, str]:
    """Whether a feature is available (`{"value": "Y"|"N"}`)."""
    return {"value": FEATURES.get(str(call.param("CODE") or ""), "N")}
