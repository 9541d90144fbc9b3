"""The peer of `bench bitrix24`: the same workload sent by fast-bitrix24's own batching (`BitrixAsync.call`).

The payloads are built by our mapping functions, so both runners send the same commands; what differs is
how they are packed, paced and retried. fast-bitrix24 cannot chain `$result[...]` across the items of
one `call`, so rows go out in a second `call` once the ids are known, and it has no lookup before create.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from fast_bitrix24 import BitrixAsync

from obmen.config.mapping import InvoiceStages
from obmen.connectors.bitrix24.crm.fields import (
    customer_fields,
    deal_from_order,
    party_fields,
    rows_from_lines,
)
from obmen.connectors.bitrix24.crm.orders import invoice_item

Phase = Callable[[], Awaitable[int]]


def peer_phases(webhook: str, work: Any, *, slow: bool = False, **options: Any) -> tuple[Phase, ...]:
    """The five phases of the workload, driven by fast-bitrix24 (`options` go to `BitrixAsync`).

    `slow`: every request goes through `BitrixAsync.slow()`, fast-bitrix24's own remedy for 503s
    (one request in flight at a time).
    """
    from bench.bitrix24 import CHANGED, MAPPING, PIPELINE, _guid, _order, _phone

    # The sandbox's default invoice pipeline is 1; the peer does not look it up as our connector does.
    invoicing = replace(MAPPING, invoice=InvoiceStages(category_id=1))

    bx = BitrixAsync(webhook, verbose=False, **options)
    products: list[int] = []
    orders: list[tuple[int, int]] = []

    async def call(method: str, items: list[dict[str, Any]]) -> list[Any]:
        if not items:
            return []
        if slow:
            with bx.slow(1):
                result = await bx.call(method, items)
        else:
            result = await bx.call(method, items)
        # fast-bitrix24 answers a list per item, but a bare result when the list held one item.
        return list(result) if len(items) > 1 else [result]

    async def create_products() -> int:
        catalogs = (await bx.call("catalog.catalog.list", raw=True))["result"]["catalogs"]
        iblock = next(c["iblockId"] for c in catalogs if not c.get("productIblockId"))
        items = [
            {"fields": {"iblockId": iblock, "name": f"Товар {i}", "xmlId": _guid(i), "active": "Y"}}
            for i in range(work.products)
        ]
        products.extend(int(row["id"]) for row in await call("catalog.product.add", items))
        return len(items)

    async def write_offers() -> int:
        prices = [
            {
                "fields": {
                    "product": {
                        "id": p,
                        "prices": [{"catalogGroupId": 1, "price": 100.0 + i, "currency": "RUB"}],
                    }
                }
            }
            for i, p in enumerate(products)
        ]
        await call("catalog.price.modify", prices)
        quantities = [{"id": p, "fields": {"quantity": float(i % 7 + 1)}} for i, p in enumerate(products)]
        await call("catalog.product.update", quantities)
        return len(products)

    async def update_products() -> int:
        items = [{"id": p, "fields": {"name": f"Товар {i} (новый)"}} for i, p in enumerate(products)]
        await call("catalog.product.update", items)
        return len(items)

    async def create_orders() -> int:
        buyers = sorted({i % work.customers for i in range(work.orders)})
        # `call` drops the empty answers of findbycomm (PHP `[]`), so the per-buyer answers come from
        # fast-bitrix24's `call_batch`, one batch of 50 named commands at a time.
        found: dict[str, Any] = {}
        for start in range(0, len(buyers), 50):
            chunk = buyers[start : start + 50]
            cmd = {f"c{c}": f"crm.duplicate.findbycomm?type=PHONE&values[0]={_phone(c)}" for c in chunk}
            if slow:
                with bx.slow(1):
                    answer = await bx.call_batch({"halt": 0, "cmd": cmd})
            else:
                answer = await bx.call_batch({"halt": 0, "cmd": cmd})
            found.update(answer if isinstance(answer, dict) else {})
        party: dict[int, str] = {}
        missing: list[int] = []
        for c in buyers:
            hit = found.get(f"c{c}")
            contacts = hit.get("CONTACT") if isinstance(hit, dict) else None
            if contacts:
                party[c] = f"C{min(int(x) for x in contacts)}"
            else:
                missing.append(c)
        new = [
            {
                "fields": party_fields(
                    "contact", {"name": f"Покупатель {c}", "phones": [_phone(c)]}, None, f"peer{c}"
                )
            }
            for c in missing
        ]
        party.update(
            (c, f"C{int(x)}") for c, x in zip(missing, await call("crm.contact.add", new), strict=True)
        )
        fields = [_order(i, party) for i in range(work.orders)]
        deals = await call(
            "crm.item.add",
            [
                {"entityTypeId": 2, "fields": deal_from_order(f, PIPELINE, f"o{i}")}
                for i, f in enumerate(fields)
            ],
        )
        deal_ids = [int(d["id"]) for d in deals]
        await call(
            "crm.item.productrow.set", [_rows("D", d, f) for d, f in zip(deal_ids, fields, strict=True)]
        )
        bills = [
            invoice_item(
                f,
                invoicing,
                deal=d,
                client=customer_fields(f["customer"]),
                state=(False, False),
                new=True,
            )
            for i, (d, f) in enumerate(zip(deal_ids, fields, strict=True))
        ]
        made = await call("crm.item.add", [{"entityTypeId": 31, "fields": b} for b in bills])
        invoice_ids = [int(x["id"]) for x in made]
        await call(
            "crm.item.productrow.set", [_rows("SI", n, f) for n, f in zip(invoice_ids, fields, strict=True)]
        )
        orders.extend(zip(deal_ids, invoice_ids, strict=True))
        return work.orders

    async def update_orders() -> int:
        deal_fields = deal_from_order(CHANGED, PIPELINE, None)
        await call(
            "crm.item.update", [{"entityTypeId": 2, "id": d, "fields": deal_fields} for d, _ in orders]
        )
        await call("crm.item.productrow.set", [_rows("D", d, CHANGED) for d, _ in orders])
        paid = invoice_item(CHANGED, invoicing, deal=None, client=None, state=(True, False), new=False)
        await call("crm.item.update", [{"entityTypeId": 31, "id": n, "fields": paid} for _, n in orders])
        await call("crm.item.productrow.set", [_rows("SI", n, CHANGED) for _, n in orders])
        return len(orders)

    def _rows(owner: str, ident: int, fields: dict[str, Any]) -> dict[str, Any]:
        rows = rows_from_lines(fields.get("lines") or [], fields.get("delivery"))
        return {"ownerType": owner, "ownerId": ident, "productRows": rows}

    return create_products, write_offers, update_products, create_orders, update_orders
