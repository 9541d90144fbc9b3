"""obmen's client of a site's `1c_exchange.php` against a small honest server (docs/protocols/commerceml.md).

See §1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fake_site import FakeSite
from lxml import etree

from obmen.connectors.site.client import ExchangeRefused, SiteExchange
from obmen.errors import AuthError, ProtocolError, TransientError

URL = "http://site/bitrix/admin/1c_exchange.php"
SMALL = Path(__file__).resolve().parents[2] / "fixtures" / "commerceml" / "ut11-small-2.07"


def count(path: Path, local: str) -> int:
    return sum(1 for e in etree.parse(str(path)).iter() if etree.QName(e).localname == local)


class Flaky(httpx.AsyncBaseTransport):
    """Times out the n-th request to a mode (the reply never arrives, whatever the server did)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.timeouts: dict[str, int] = {}
        self.seen: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        mode = request.url.params.get("mode", "")
        self.seen[mode] = self.seen.get(mode, 0) + 1
        response = await self.inner.handle_async_request(request)
        if self.timeouts.get(mode) == self.seen[mode]:
            raise httpx.ReadTimeout("fault: timed out", request=request)
        return response


@pytest.fixture
def site() -> FakeSite:
    return FakeSite("obmen", "pw", file_limit=4096, import_steps=2)


@pytest.fixture
def flaky(site: FakeSite) -> Flaky:
    return Flaky(httpx.ASGITransport(site.app))


@pytest.fixture
async def client(flaky: Flaky) -> AsyncIterator[SiteExchange]:
    exchange = SiteExchange(URL, "obmen", "pw", transport=flaky, max_steps=20)
    yield exchange
    await exchange.aclose()


def catalog_files() -> dict[str, Path]:
    return {"import0_1.xml": SMALL / "import0_1.xml", "offers0_1.xml": SMALL / "offers0_1.xml"}


async def test_catalog_goes_zipped_in_chunks_and_imports_through_progress(
    client: SiteExchange, site: FakeSite
) -> None:
    summaries = await client.push_catalog(catalog_files())
    assert len(site.products) == count(SMALL / "import0_1.xml", "Товар") == 36
    assert len(site.offers) == count(SMALL / "offers0_1.xml", "Предложение") == 44
    uploads = [mode for kind, mode in site.calls if mode == "file"]
    # One archive, several chunks of at most file_limit bytes.
    assert len(uploads) > 1
    assert "Распаковка архива завершена." in client.stats.steps
    assert client.stats.steps.count("Обработано 2 шагов") == 2
    assert site.imported == ["import0_1.xml", "offers0_1.xml"]
    assert summaries[0] == "Товаров: 36"


async def test_plain_upload_without_zip_and_full_run_deactivates(site: FakeSite, flaky: Flaky) -> None:
    exchange = SiteExchange(URL, "obmen", "pw", transport=flaky, zip=False)
    data = (SMALL / "import0_1.xml").read_bytes()
    summaries = await exchange.push_catalog({"import0_1.xml": data}, full=True)
    await exchange.aclose()
    assert len(site.products) == 36
    assert ("catalog", "deactivate") in site.calls
    assert summaries[-1] == "Готово"
    assert sum(1 for _, mode in site.calls if mode == "file") == -(-len(data) // 4096)


async def test_orders_come_again_until_confirmed(client: SiteExchange, site: FakeSite) -> None:
    site.add_order("132", status="N")
    site.add_order("133", status="P", paid=True)
    first = await client.query_orders()
    assert first.body.count("<Документ>".encode("cp1251")) == 2
    again = await client.query_orders()
    assert again.body.count("<Документ>".encode("cp1251")) == 2
    await client.confirm(again)
    empty = await client.query_orders()
    assert "<Документ>".encode("cp1251") not in empty.body


async def test_documents_update_orders_and_are_not_exported_back(
    client: SiteExchange, site: FakeSite
) -> None:
    site.add_order("132")
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?><КоммерческаяИнформация ВерсияСхемы="2.09"><Документ>'
        "<Ид>132</Ид><Номер>132</Номер><Дата>2024-01-01</Дата><ЗначенияРеквизитов>"
        "<ЗначениеРеквизита><Наименование>Статуса заказа ИД</Наименование><Значение>F</Значение>"
        "</ЗначениеРеквизита><ЗначениеРеквизита><Наименование>Номер по 1С</Наименование>"
        "<Значение>УТ-1</Значение></ЗначениеРеквизита></ЗначенияРеквизитов></Документ></КоммерческаяИнформация>"
    ).encode()
    assert await client.push_documents(doc) == "Документов: 1"
    assert (site.orders["132"].status, site.orders["132"].onec_number) == ("F", "УТ-1")
    answer = await client.query_orders()
    assert "<Документ>".encode("cp1251") not in answer.body


async def test_wrong_password_is_an_auth_error(site: FakeSite) -> None:
    exchange = SiteExchange(URL, "obmen", "wrong", transport=httpx.ASGITransport(site.app))
    with pytest.raises(AuthError, match="Неверное имя пользователя"):
        await exchange.query_orders()
    await exchange.aclose()


@pytest.mark.parametrize(
    ("mode", "fault", "error", "text"),
    [
        ("checkauth", "503", TransientError, "HTTP 503"),
        ("init", "html", TransientError, "HTML"),
        ("import", "failure", ExchangeRefused, "Ошибка при импорте"),
        ("query", "html", TransientError, "HTML"),
        ("query", "failure", ExchangeRefused, "Ошибка при импорте"),
    ],
)
async def test_failures_become_obmen_errors(
    client: SiteExchange, site: FakeSite, mode: str, fault: str, error: type[Exception], text: str
) -> None:
    site.faults.append((mode, fault))
    run = (
        client.query_orders()
        if mode == "query"
        else client.push_catalog({"import0_1.xml": SMALL / "import0_1.xml"})
    )
    with pytest.raises(error, match=text):
        await run


async def test_a_timeout_is_transient(client: SiteExchange, flaky: Flaky) -> None:
    flaky.timeouts["file"] = 2
    with pytest.raises(TransientError, match="timed out"):
        await client.push_catalog(catalog_files())


async def test_endless_progress_is_bounded(site: FakeSite, flaky: Flaky) -> None:
    site.import_steps = 1000
    exchange = SiteExchange(URL, "obmen", "pw", transport=flaky, max_steps=5)
    with pytest.raises(TransientError, match="after 5 steps"):
        await exchange.push_catalog({"import0_1.xml": SMALL / "import0_1.xml"})
    await exchange.aclose()


async def test_an_unknown_status_line_is_a_protocol_error(site: FakeSite) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["mode"] == "checkauth":
            return httpx.Response(200, text="success\nPHPSESSID\nabc\nsessid=1\ntimestamp=5")
        if request.url.params["mode"] == "init":
            return httpx.Response(200, text="zip=no\nfile_limit=100")
        return httpx.Response(200, text="Successfully import catalog")

    exchange = SiteExchange(URL, "obmen", "pw", transport=httpx.MockTransport(handler))
    with pytest.raises(ProtocolError, match="unknown status"):
        await exchange.push_catalog({"a.xml": b"<x/>"})
    await exchange.aclose()


async def test_a_run_that_failed_midway_is_retried_whole_without_duplicates(
    client: SiteExchange, site: FakeSite, flaky: Flaky
) -> None:
    # The site appended chunk 3, but its answer never came: re-sending it would double those bytes.
    flaky.timeouts["file"] = 3
    with pytest.raises(TransientError):
        await client.push_catalog(catalog_files())
    await client.push_catalog(catalog_files())
    assert len(site.products) == 36
    assert {entry["writes"] for entry in site.products.values()} == {1}
    assert site.imported == ["import0_1.xml", "offers0_1.xml"]


def sale_site(answer: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        mode = request.url.params["mode"]
        if mode == "checkauth":
            return httpx.Response(200, text="success\nPHPSESSID\nabc\nsessid=1")
        if mode == "init":
            return httpx.Response(200, text="zip=no\nfile_limit=100\nsessid=1\nversion=2.09")
        return httpx.Response(200, content=answer)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("\ufeff<КоммерческаяИнформация ВерсияСхемы='2.05'/>".encode(), None),
        (b'<?xml version="1.0" encoding="windows-1251"?><x/>', None),
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", TransientError),
        (b"Warning: mysql_connect() failed", ProtocolError),
    ],
)
async def test_the_orders_answer_is_checked_before_it_is_parsed(
    answer: bytes, error: type[Exception] | None
) -> None:
    exchange = SiteExchange(URL, "obmen", "pw", transport=sale_site(answer))
    if error is None:
        assert (await exchange.query_orders()).body == answer
    else:
        with pytest.raises(error):
            await exchange.query_orders()
    await exchange.aclose()
