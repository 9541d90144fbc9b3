"""Catalog exchange against the site sandbox: full, zipped, chunked, change-only, deactivate."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
from site_driver import FIXTURES, OneC, small_catalog, text, zipped

from obmen_sandbox.site import SiteSandbox

OFFER = "bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1"


async def test_checkauth_and_init_replies_are_the_bitrix_lines(onec: OneC) -> None:
    response = await onec.call("catalog", "checkauth")
    assert response.headers["content-type"] == "text/html; charset=windows-1251"
    lines = text(response).split("\n")
    assert [lines[0], lines[1]] == ["success", "PHPSESSID"]
    assert re.fullmatch(r"[0-9a-f]{32}", lines[2])
    assert re.fullmatch(r"sessid=[0-9a-f]{32}", lines[3])
    assert re.fullmatch(r"timestamp=\d{10}", lines[4])
    onec.cookie, onec.sessid = f"PHPSESSID={lines[2]}", lines[3][7:]
    assert await onec.init("catalog") == ["zip=yes", "file_limit=4096"]


async def test_full_run_zipped_and_chunked_imports_the_real_fixture(
    onec: OneC, client: httpx.AsyncClient
) -> None:
    files = small_catalog()
    replies = await onec.catalog_run(files, use_zip=True)
    # The archive is unpacked on the first import call, which answers progress (docs/protocols/commerceml.md
    # §1.4).
    assert replies[0] == "progress\nРаспаковка архива завершена."
    assert "progress\nОбработано 10 из 36 элементов." in replies
    assert "progress\nОбработано 44 из 44 элементов." in replies
    assert [r for r in replies if not r.startswith("progress")] == ["success\nИмпорт успешно завершен."] * 2
    log = (await client.get("/_sandbox/log")).json()
    assert sum(1 for e in log if e["mode"] == "file") > 1  # chunked at file_limit
    page = (await client.get("/_sandbox/products", params={"limit": 500})).json()
    assert (page["total"], page["offers"], page["sections"]) == (36, 44, 1)
    offer = (await client.get(f"/_sandbox/offers/{OFFER}")).json()
    assert offer["prices"] == {"BASE": "100"}
    assert offer["quantity"] == "377"
    assert offer["stocks"] == {"Владивосток": "1", "Новосибирск": "0", "Москва": "376"}


async def test_plain_run_and_a_change_only_run_touch_only_what_changed(
    onec: OneC, client: httpx.AsyncClient, sandbox: SiteSandbox
) -> None:
    await onec.catalog_run(small_catalog(), use_zip=False)
    catalog = sandbox.state.catalog
    before = {k: (dict(o.prices), o.quantity) for k, o in catalog.offers.items()}
    # A well-formed root alone carries nothing: the import must refuse it.
    empty_root = '<?xml version="1.0" encoding="UTF-8"?>\n<КоммерческаяИнформация/>'.encode()
    change = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<КоммерческаяИнформация ВерсияСхемы="2.08">'
        '<ПакетПредложений СодержитТолькоИзменения="true"><Предложения><Предложение>'
        f"<Ид>{OFFER}</Ид><Цены><Цена><ИдТипаЦены>279b6812-740b-11e8-80c8-0cc47ab29cd1</ИдТипаЦены>"
        "<ЦенаЗаЕдиницу>123,50</ЦенаЗаЕдиницу></Цена></Цены></Предложение></Предложения>"
        "</ПакетПредложений></КоммерческаяИнформация>"
    ).encode()
    replies = await onec.catalog_run({"prices___1.xml": change}, use_zip=False)
    assert replies[-1].startswith("success")
    ts = str(onec.timestamp)
    assert text(await onec.call("catalog", "deactivate", timestamp=ts)).startswith("success")
    after = {k: (dict(o.prices), o.quantity) for k, o in catalog.offers.items()}
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {OFFER}
    assert catalog.offers[OFFER].prices["279b6812-740b-11e8-80c8-0cc47ab29cd1"] == Decimal("123.50")
    assert catalog.offers[OFFER].quantity == Decimal(377)  # a prices-only file keeps the stock
    assert all(o.active for o in catalog.offers.values())  # a change-only run deactivates nothing
    empty = await onec.catalog_run({"import.xml": empty_root}, use_zip=False)
    assert empty[-1].startswith("failure\n")


def _without_products(data: bytes, keep: int) -> bytes:
    """The import file with only the first `keep` products: a later full unload that lost some."""
    head, sep, rest = data.decode("utf-8-sig").partition("<Товары>")
    body, end, tail = rest.partition("</Товары>")
    products = re.findall(r"<Товар>.*?</Товар>", body, flags=re.S)
    return (head + sep + "".join(products[:keep]) + end + tail).encode()


async def test_deactivate_after_a_full_run_deactivates_what_it_did_not_bring(
    onec: OneC, sandbox: SiteSandbox
) -> None:
    files = small_catalog()
    await onec.catalog_run(files)
    second = OneC(onec.client)
    await second.catalog_run({"import0_1.xml": _without_products(files["import0_1.xml"], 30)})
    reply = text(await second.call("catalog", "deactivate", timestamp=str(second.timestamp)))
    assert reply.startswith("success\nДеактивация элементов завершена.")
    products = sandbox.state.catalog.products.values()
    assert sum(p.active for p in products) == 30
    assert len(products) == 36  # Bitrix deactivates, it does not delete
    assert text(await second.call("catalog", "complete")).startswith("success")


async def test_deactivate_without_timestamp_and_unknown_modes_fail(onec: OneC) -> None:
    await onec.checkauth("catalog")
    assert text(await onec.call("catalog", "deactivate")).startswith("failure\n")
    assert text(await onec.call("catalog", "rollback")) == "failure\nНеизвестная команда."


async def test_deletion_mark_deactivates_the_product(onec: OneC, sandbox: SiteSandbox) -> None:
    data = small_catalog()["import0_1.xml"].decode("utf-8-sig")
    first = re.search(r"<Товар>\s*<Ид>([^<]+)</Ид>", data)
    assert first is not None
    marked = data.replace(first.group(0), first.group(0) + "<Статус>Удален</Статус>", 1)
    await onec.catalog_run({"import0_1.xml": marked.encode()})
    products = sandbox.state.catalog.products
    assert not products[first.group(1)].active
    # The fixture already marks one product deleted; ours is the second inactive one.
    assert sum(not p.active for p in products.values()) == 2


async def test_erp_run_with_images_in_the_archive(onec: OneC, sandbox: SiteSandbox) -> None:
    erp = FIXTURES / "erp-2.07"
    files = {name: (erp / name).read_bytes() for name in ("import.xml", "offers.xml")}
    images = {str(p.relative_to(erp)): p.read_bytes() for p in (erp / "import_files").rglob("*.jp*g")}
    archive = zipped({**images, **files})
    await onec.checkauth("catalog")
    await onec.init("catalog")
    assert set(await onec.upload("catalog", "v8_1A76_155ae.zip", archive)) == {"success"}
    for name in files:
        assert (await onec.run_import("catalog", name))[-1].startswith("success")
    catalog = sandbox.state.catalog
    # 249 <Товар> carry 248 distinct Ид (36630 twice): the site keys by XML_ID, so the second one updates.
    assert (len(catalog.products), len(catalog.offers), len(catalog.price_types)) == (248, 222, 12)
    assert sum(not p.active for p in catalog.products.values()) == 3  # <Статус>Удален</Статус> ×3
    [session] = sandbox.state.sessions.values()
    for name, data in images.items():
        assert (session.run.root / name).read_bytes() == data
    with_images = [p for p in catalog.products.values() if p.images]
    assert with_images
    assert all(i.startswith("import_files/") for p in with_images for i in p.images)
