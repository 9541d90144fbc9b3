"""The 1C sandbox's OData interface by 1C's rules (docs/protocols/onec.md §A1): auth, formats, query options,
the tabular-part rule, posting, `DataVersion`, and the extension's node; `$filter` against a reference
evaluation (hypothesis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.onec.odata.filters import compile_filter

ROOT = "/trade/odata/standard.odata"


@pytest.fixture
async def onec() -> AsyncIterator[tuple[OnecSandbox, httpx.AsyncClient]]:
    sandbox = OnecSandbox("http://obmen/exchange/1c", "1c", "pw")
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onec", auth=("1c", "pw")) as http:
        yield sandbox, http


async def get(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    reply = await http.get(f"{ROOT}/{path}", params={"$format": "json", **params})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_basic_auth_and_json_are_required(onec: tuple[OnecSandbox, httpx.AsyncClient]) -> None:
    _, http = onec
    async with httpx.AsyncClient(transport=http._transport, base_url="http://onec") as anonymous:
        assert (await anonymous.get(f"{ROOT}/Catalog_Склады?$format=json")).status_code == 401
    atom = await http.get(f"{ROOT}/Catalog_Склады")
    assert atom.status_code == 406
    assert "odata.error" in atom.json()
    bare = await get(http, "Catalog_Склады", **{"$format": "json;odata=nometadata"})
    assert "odata.metadata" not in bare


async def test_query_options_and_inlinecount(onec: tuple[OnecSandbox, httpx.AsyncClient]) -> None:
    sandbox, http = onec
    products = len(sandbox.infobase.products)
    page = await get(
        http,
        "Catalog_Номенклатура",
        **{
            "$filter": "IsFolder eq false",
            "$top": "3",
            "$skip": "2",
            "$orderby": "Description desc",
            "$select": "Description",
        },
    )
    names = sorted((p.name for p in sandbox.infobase.products.values()), reverse=True)[2:5]
    assert [r["Description"] for r in page["value"]] == names
    counted = await get(
        http,
        "Catalog_Номенклатура",
        **{"$filter": "IsFolder eq false", "$top": "1", "$inlinecount": "allpages"},
    )
    # `$inlinecount` makes 1C ignore `$top` and `$skip` (§A1.5).
    assert (counted["odata.count"], len(counted["value"])) == (str(products), products)
    wrong = await http.get(
        f"{ROOT}/Catalog_Номенклатура", params={"$format": "json", "$filter": "Цвет eq 'x'"}
    )
    assert wrong.status_code == 400
    assert (await http.get(f"{ROOT}/Catalog_Нет?$format=json")).status_code == 404


async def test_a_patch_replaces_the_whole_tabular_part_and_posting_is_separate(
    onec: tuple[OnecSandbox, httpx.AsyncClient],
) -> None:
    sandbox, http = onec
    party = (
        await http.post(f"{ROOT}/Catalog_Контрагенты?$format=json", json={"Description": "ООО «Ромашка»"})
    ).json()
    offer = next(o for o in sandbox.infobase.offers.values() if "#" not in o.id)
    row = {"Номенклатура_Key": offer.id, "Количество": 1, "Цена": 10}
    body = {"Контрагент_Key": party["Ref_Key"], "Товары": [row, row, row]}
    assert (
        await http.post(f"{ROOT}/Document_ЗаказКлиента?$format=json", json=body)
    ).status_code == 400  # no Date
    made = (
        await http.post(
            f"{ROOT}/Document_ЗаказКлиента?$format=json", json={**body, "Date": "2026-01-01T00:00:00"}
        )
    ).json()
    key = f"{ROOT}/Document_ЗаказКлиента(guid'{made['Ref_Key']}')"
    refused = await http.patch(f"{key}?$format=json", json={"Posted": True})
    assert refused.status_code == 400
    changed = (await http.patch(f"{key}?$format=json", json={"Товары": [row]})).json()
    assert [r["LineNumber"] for r in changed["Товары"]] == [1]
    assert changed["DataVersion"] != made["DataVersion"]
    stale = await http.patch(
        f"{key}?$format=json", json={"Комментарий": "x"}, headers={"If-Match": made["DataVersion"]}
    )
    assert stale.status_code == 412
    posted = (await http.post(f"{key}/Post?PostingModeOperational=false&$format=json")).json()
    assert posted["Posted"] is True


async def test_the_extension_registers_until_acknowledged(
    onec: tuple[OnecSandbox, httpx.AsyncClient],
) -> None:
    sandbox, http = onec
    first = (await http.get("/trade/hs/obmen/changes?limit=100000")).json()
    await http.post("/trade/hs/obmen/ack", json={"message": first["message"]})
    assert (await http.get("/trade/hs/obmen/changes")).json()["changes"] == []
    offer = next(iter(sandbox.infobase.offers))
    await http.patch(f"/_sandbox/products/{offer.replace('#', '%23')}", json={"prices": {"Розничная": 5}})
    unread = (await http.get("/trade/hs/obmen/changes")).json()
    again = (await http.get("/trade/hs/obmen/changes")).json()
    # Not acknowledged: the registration stays and the next read carries it again.
    assert unread["changes"] == again["changes"] != []
    assert {c["type"] for c in unread["changes"]} == {"InformationRegister_ЦеныНоменклатуры25"}


_FIELDS = frozenset({"a", "b"})
_VALUES = st.integers(min_value=-3, max_value=3)


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 3) -> tuple[str, Any]:
    """(a `$filter` text, the same predicate in Python)."""
    if depth == 0 or draw(st.booleans()):
        field, op, value = (
            draw(st.sampled_from(sorted(_FIELDS))),
            draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"])),
            draw(_VALUES),
        )
        ops = {
            "eq": int.__eq__,
            "ne": int.__ne__,
            "gt": int.__gt__,
            "ge": int.__ge__,
            "lt": int.__lt__,
            "le": int.__le__,
        }
        return f"{field} {op} {value}", lambda row: ops[op](row[field], value)
    left, right = draw(_expressions(depth - 1)), draw(_expressions(depth - 1))
    kind = draw(st.sampled_from(["and", "or", "not"]))
    if kind == "not":
        return f"not ({left[0]})", lambda row: not left[1](row)
    if kind == "and":
        return f"({left[0]}) and ({right[0]})", lambda row: left[1](row) and right[1](row)
    return f"({left[0]}) or ({right[0]})", lambda row: left[1](row) or right[1](row)


@given(_expressions(), st.fixed_dictionaries({"a": _VALUES, "b": _VALUES}))
def test_filters_evaluate_as_written(expression: tuple[str, Any], row: dict[str, int]) -> None:
    text, expected = expression
    assert compile_filter(text, _FIELDS)(row) == expected(row)


async def test_a_receipt_settles_its_order_while_posted(onec: tuple[OnecSandbox, httpx.AsyncClient]) -> None:
    """Incoming payments (odata/payments.py): published, `Posted` only by `/Post`, a deletion mark unposts."""
    sandbox, http = onec
    metadata = (await http.get(f"{ROOT}/$metadata")).text
    for name in ("Document_ПоступлениеБезналичныхДенежныхСредств", "Document_ПриходныйКассовыйОрдер"):
        assert f'<EntitySet Name="{name}"' in metadata
        assert f"{name}_РасшифровкаПлатежа_RowType" in metadata
    party = (
        await http.post(f"{ROOT}/Catalog_Контрагенты?$format=json", json={"Description": "Ирина"})
    ).json()
    offer = next(o for o in sandbox.infobase.offers.values() if "#" not in o.id)
    goods = [{"Номенклатура_Key": offer.id, "Количество": 1, "Цена": 500, "Сумма": 500}]
    body = {"Date": "2026-03-01T10:00:00", "Контрагент_Key": party["Ref_Key"], "Товары": goods}
    order = (await http.post(f"{ROOT}/Document_ЗаказКлиента?$format=json", json=body)).json()
    cash = f"{ROOT}/Document_ПриходныйКассовыйОрдер"
    row = {"Заказ": order["Ref_Key"], "Заказ_Type": "StandardODATA.Document_ЗаказКлиента", "Сумма": 500}
    receipt = {"Date": "2026-03-02T12:00:00", "СуммаДокумента": 500, "РасшифровкаПлатежа": [row]}
    assert (await http.post(f"{cash}?$format=json", json={**receipt, "Posted": True})).status_code == 400
    made = (await http.post(f"{cash}?$format=json", json=receipt)).json()
    stored = sandbox.infobase.orders[order["Ref_Key"]]
    assert (made["Posted"], stored.paid) == (False, False)
    key = f"{cash}(guid'{made['Ref_Key']}')"
    assert (await http.post(f"{key}/Post?$format=json")).json()["Posted"] is True
    assert stored.paid
    found = await get(http, "Document_ПриходныйКассовыйОрдер", **{
        "$filter": f"РасшифровкаПлатежа/any(d: d/Заказ eq guid'{order['Ref_Key']}')"
    })  # fmt: skip
    assert [r["Ref_Key"] for r in found["value"]] == [made["Ref_Key"]]
    marked = (await http.patch(f"{key}?$format=json", json={"DeletionMark": True})).json()
    assert (marked["Posted"], stored.paid) == (False, False)
    assert (await http.post(f"{key}/Post?$format=json")).status_code == 500  # marked: nothing to post
