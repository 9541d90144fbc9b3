"""`obmen check` in `onec.mode = "odata"`: the publication with Basic auth, the entity sets obmen uses in
`$metadata`, and the ObmenPing extension's HTTP service, against the 1C sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from obmen.config.settings import Settings
from obmen.connectors.base import SetupContext
from obmen.connectors.onec.odata.checks import REQUIRED, odata_checks
from obmen.connectors.onec.odata.client import ODataClient
from obmen.connectors.onec.setup import odata_integration
from obmen.errors import AccessRefused, Unreachable
from obmen.store.database import Database
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.onec.odata.schema import metadata_xml
from obmen_sandbox.serving import serve_in_thread

EXTENSION = "ObmenPing extension / расширение ObmenPing"
PUBLISHED = "published objects / опубликованные объекты"


@pytest.fixture
def onec() -> Iterator[tuple[OnecSandbox, str]]:
    sandbox = OnecSandbox(
        "http://127.0.0.1:9/exchange/1c", "1c", "x", odata_login="obmen", odata_password="pw"
    )
    with serve_in_thread(sandbox.app) as url:
        yield sandbox, f"{url}{sandbox.odata.path}"


async def _verdicts(
    url: str,
    password: str = "pw",
    *,
    extension: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, tuple[bool, str]]:
    client = ODataClient(url, "obmen", password, transport=transport, attempts=1)
    try:
        return {c.name: (c.ok, c.detail) for c in await odata_checks(client, extension=extension)}
    finally:
        await client.aclose()


async def test_a_published_infobase_with_the_extension_passes_every_check(
    onec: tuple[OnecSandbox, str],
) -> None:
    found = await _verdicts(onec[1])
    assert [ok for ok, _ in found.values()] == [True, True, True], found
    assert f"all {len(REQUIRED)}" in found[PUBLISHED][1]


async def test_a_wrong_password_fails_the_login(onec: tuple[OnecSandbox, str]) -> None:
    found = await _verdicts(onec[1], "wrong")
    ok, detail = found["OData login / вход OData"]
    assert not ok
    assert "401" in detail
    assert PUBLISHED not in found


async def test_an_entity_set_that_is_not_published_is_named() -> None:
    unpublished = metadata_xml().replace(
        '<EntitySet Name="Document_ЗаказКлиента"', '<EntitySet Name="Hidden"'
    )

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")
        return httpx.Response(200, text=unpublished, headers={"content-type": "application/xml"})

    found = await _verdicts(
        "http://1c/trade/odata/standard.odata", extension=False, transport=httpx.MockTransport(answer)
    )
    ok, detail = found[PUBLISHED]
    assert not ok
    assert detail == "not published: Document_ЗаказКлиента"
    assert EXTENSION not in found


async def test_an_extension_that_is_not_installed_fails_its_check(onec: tuple[OnecSandbox, str]) -> None:
    onec[0].extension.installed = False
    found = await _verdicts(onec[1])
    assert found[PUBLISHED][0]
    ok, detail = found[EXTENSION]
    assert not ok
    assert "extension" in detail
    # Polled without the extension, nothing asks for its service.
    assert EXTENSION not in await _verdicts(onec[1], extension=False)


async def test_the_pass_keeps_the_publications_price_types_and_warehouses_by_ref_key(
    onec: tuple[OnecSandbox, str], db: Database, tmp_path: Path
) -> None:
    """What the mapping page checks `[mapping]` against, read from the publication like the connector."""
    sandbox, url = onec
    settings = Settings(
        state_dir=tmp_path,
        onec={"mode": "odata", "odata_url": url, "odata_login": "obmen", "odata_password": "pw"},
    )
    ctx = SetupContext(
        db=db, tenant="default", state_dir=tmp_path, clock=time.time, wake=lambda: None, attach=lambda _: None
    )
    integration = odata_integration(settings, ctx)
    assert integration.checks is not None
    assert integration.facts is not None
    try:
        survey = await integration.checks()
        assert survey.facts is not None
        assert survey.facts == await integration.facts()
    finally:
        await integration.closers[0]()
    kinds, stores = survey.facts["price_types"], survey.facts["warehouses"]
    assert sorted(kinds.values()) == sorted(k.name for k in sandbox.infobase.price_types.values())
    assert sorted(stores.values()) == sorted(w.name for w in sandbox.infobase.warehouses.values())
    assert all(len(key) == 36 for key in [*kinds, *stores])  # Ref_Key GUIDs


async def test_a_publication_that_does_not_answer_is_unreachable_like_any_other_call() -> None:
    """`$metadata` maps its failures as every OData call does (client._raise): the breaker's errors."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    url = "http://1c/trade/odata/standard.odata"
    client = ODataClient(url, "obmen", "pw", transport=httpx.MockTransport(refused), attempts=1)
    try:
        with pytest.raises(Unreachable, match=r"1C OData \$metadata: unreachable"):
            await client.entity_sets()
    finally:
        await client.aclose()
    found = await _verdicts(url, extension=False, transport=httpx.MockTransport(refused))
    ok, detail = found["OData / публикация"]
    assert not ok
    assert (
        detail == "Unreachable: 1C OData $metadata: unreachable: ConnectError: [Errno 111] Connection refused"
    )


async def test_a_refused_metadata_is_access_refused_and_fails_the_login_line() -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text="Forbidden")

    url = "http://1c/trade/odata/standard.odata"
    client = ODataClient(url, "obmen", "pw", transport=httpx.MockTransport(forbidden), attempts=1)
    try:
        with pytest.raises(AccessRefused, match="HTTP 403"):
            await client.entity_sets()
    finally:
        await client.aclose()
    found = await _verdicts(url, extension=False, transport=httpx.MockTransport(forbidden))
    ok, detail = found["OData login / вход OData"]
    assert not ok
    assert "not published" in detail


async def test_the_payment_document_sets_must_be_published() -> None:
    """An order's payments are 1C's incoming-payment documents (docs/protocols/onec.md §A1.9)."""
    unpublished = metadata_xml()
    for name in ("Document_ПоступлениеБезналичныхДенежныхСредств", "Document_ПриходныйКассовыйОрдер"):
        unpublished = unpublished.replace(f'<EntitySet Name="{name}"', f'<EntitySet Name="Hidden{name}"')

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=unpublished, headers={"content-type": "application/xml"})

    found = await _verdicts(
        "http://1c/trade/odata/standard.odata", extension=False, transport=httpx.MockTransport(answer)
    )
    assert found[PUBLISHED] == (
        False,
        "not published: Document_ПоступлениеБезналичныхДенежныхСредств, Document_ПриходныйКассовыйОрдер",
    )
