"""`obmen check` for 1C in `odata` mode: the publication answers obmen's user, publishes what obmen reads
and writes (docs/protocols/onec.md §A1.1), and the ObmenPing extension's HTTP service answers when
`onec.odata_extension` is on (§A2). Nothing is written: the service's `changes` is read with `limit=1`,
which 1C numbers as a message but forgets nothing by (registrations stay until acknowledged).
"""

from __future__ import annotations

from obmen.connectors.base import Check
from obmen.connectors.onec.odata.client import ODataClient
from obmen.connectors.onec.odata.feed import CHARACTERISTICS, NOMENCLATURE, PRICES, STOCK
from obmen.connectors.onec.odata.payments import PAYMENT_SETS
from obmen.errors import AuthError, ObmenError

__all__ = ["REQUIRED", "odata_checks"]

SYSTEM = "onec"
#: The entity sets obmen reads or writes; a register's movements are published as `<register>_RecordType`.
REQUIRED = (
    NOMENCLATURE,
    CHARACTERISTICS,
    PRICES,
    f"{STOCK}_RecordType",
    "Catalog_ВидыЦен",
    "Catalog_Склады",
    "Catalog_Валюты",
    "Catalog_УпаковкиЕдиницыИзмерения",
    "Catalog_Контрагенты",
    "Catalog_Партнеры",
    "Document_ЗаказКлиента",
    *PAYMENT_SETS,
)
_PUBLISH = (
    "publish them in 1C's form «Настройка стандартного интерфейса OData» (docs/operations.md §3.1, "
    "docs/protocols/onec.md §A1.1) / опубликуйте эти объекты в 1С"
)


async def odata_checks(client: ODataClient, *, extension: bool) -> list[Check]:
    """The publication with Basic auth, its entity sets, and the extension's service (when it is on)."""
    try:
        names = await client.entity_sets()
    except AuthError as exc:
        fix = (
            "check onec.odata_login and onec.odata_password (OBMEN_ONEC__ODATA_PASSWORD) and the user's "
            "rights in 1C / проверьте пользователя OData и его права"
        )
        return [Check(SYSTEM, "OData login / вход OData", False, str(exc), fix)]
    except ObmenError as exc:
        fix = (
            f"check onec.odata_url ({client.root}) and that the infobase is published on the web server "
            "/ проверьте адрес публикации 1С"
        )
        return [Check(SYSTEM, "OData / публикация", False, f"{type(exc).__name__}: {exc}", fix)]
    checks = [Check(SYSTEM, "OData login / вход OData", True, f"$metadata answered at {client.root}")]
    missing = [name for name in REQUIRED if name not in names]
    detail = (
        f"not published: {', '.join(missing)}"
        if missing
        else f"all {len(REQUIRED)} entity sets obmen uses are published"
    )
    checks.append(Check(SYSTEM, "published objects / опубликованные объекты", not missing, detail, _PUBLISH))
    if extension:
        checks.append(await _service(client))
    return checks


async def _service(client: ODataClient) -> Check:
    name = "ObmenPing extension / расширение ObmenPing"
    try:
        reply = await client.service("GET", "changes", query={"limit": 1})
    except ObmenError as exc:
        fix = (
            "load the extension (integrations/1c-extension, «Загрузить расширение из файлов»), publish its "
            "HTTP service `obmen`, or set onec.odata_extension = false to poll "
            "/ установите расширение или отключите onec.odata_extension"
        )
        return Check(SYSTEM, name, False, f"{type(exc).__name__}: {exc}", fix)
    if not isinstance(reply, dict) or not isinstance(reply.get("changes"), list):
        return Check(SYSTEM, name, False, f"hs/obmen/changes answered {str(reply)[:120]}", "see the reason")
    return Check(SYSTEM, name, True, f"{client.services}/changes answers (message {reply.get('message')})")
