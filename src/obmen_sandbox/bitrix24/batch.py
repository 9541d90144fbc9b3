"""`batch`: up to 50 commands in one request, run in order, chained by `$result[..]`.

See §4 (docs/protocols/bitrix24.md).

`cmd` maps a command id to `"method?query"`, the query URL-encoded in bracket notation. References like
`$result[get_user][UF_DEPARTMENT][0]` (and `$result_total`, `$result_next`, `$result_error`,
`$result_time`) are replaced by earlier results after the query is parsed: a value that is exactly one
reference takes the referenced value whole, a reference inside text is interpolated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from obmen_sandbox.bitrix24.dispatch import Caller, invoke
from obmen_sandbox.bitrix24.registry import Call, RestError, method
from obmen_sandbox.bitrix24.wire import parse_query

if TYPE_CHECKING:
    from obmen_sandbox.bitrix24.portal import Portal

__all__ = ["MAX_COMMANDS", "substitute"]

MAX_COMMANDS = 50
_REF = re.compile(r"\$(result_error|result_total|result_next|result_time|result)((?:\[[^\[\]]*\])+)")
_MISSING = object()


def _lookup(members: Mapping[str, Mapping[str, Any]], kind: str, path: str) -> Any:
    keys = re.findall(r"\[([^\[\]]*)\]", path)
    node: Any = members.get(kind, {})
    for key in keys:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def substitute(value: Any, members: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace `$result[...]` references in parsed parameters by earlier results."""
    if isinstance(value, Mapping):
        return {k: substitute(v, members) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, members) for v in value]
    if not isinstance(value, str) or "$result" not in value:
        return value
    whole = _REF.fullmatch(value)
    if whole:
        found = _lookup(members, whole.group(1), whole.group(2))
        return value if found is _MISSING else found

    def replace(match: re.Match[str]) -> str:
        found = _lookup(members, match.group(1), match.group(2))
        if found is _MISSING:
            return match.group(0)
        return "" if found is None else str(found)

    return _REF.sub(replace, value)


def _commands(raw: Any) -> list[tuple[str, str]]:
    if isinstance(raw, Mapping):
        return [(str(k), str(v)) for k, v in raw.items()]
    if isinstance(raw, list):
        return [(str(i), str(v)) for i, v in enumerate(raw)]
    raise RestError("INVALID_ARG_VALUE", "Parameter 'cmd' must be an array")


def _packed(member: dict[str, Any], was_list: bool) -> Any:
    """A list `cmd` answers lists where PHP's array stays packed (0..n-1 in order)."""
    if was_list and list(member) == [str(i) for i in range(len(member))]:
        return list(member.values())
    return member


@method("batch", scope="basic", batchable=False)
def batch(portal: Portal, call: Call) -> dict[str, Any]:
    """Run the commands in order; `halt=1` stops at the first failure."""
    raw = call.param("cmd")
    commands = _commands(raw or {})
    if len(commands) > MAX_COMMANDS:
        raise RestError("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    halt = str(call.param("halt") or "0") not in ("0", "false", "")
    app = portal.auth.apps.get(call.app) if call.app else None
    caller = Caller(call.user_id, app)
    members: dict[str, dict[str, Any]] = {
        "result": {},
        "result_error": {},
        "result_total": {},
        "result_next": {},
        "result_time": {},
    }
    for key, command in commands:
        name, _, query_string = command.partition("?")
        params = substitute(parse_query(query_string), members)
        if call.auth_connector and "auth_connector" not in params:
            params["auth_connector"] = call.auth_connector
        outcome = invoke(portal, name.strip(), params, caller, in_batch=True)
        if outcome.error is not None:
            members["result_error"][key] = {
                "error": outcome.error.code,
                "error_description": outcome.error.description,
            }
            if halt:
                break
            continue
        members["result"][key] = outcome.result
        if outcome.total is not None:
            members["result_total"][key] = outcome.total
        if outcome.next is not None:
            members["result_next"][key] = outcome.next
        members["result_time"][key] = outcome.time
    was_list = isinstance(raw, list)
    return {name: _packed(member, was_list) for name, member in members.items()}
