"""Injected faults, and one whole exchange over a real socket."""

from __future__ import annotations

import httpx
from site_driver import LOGIN, PASSWORD, OneC, small_catalog, text

from obmen_sandbox.serving import serve_in_thread
from obmen_sandbox.site import SiteSandbox


async def test_status_and_html_faults_hit_the_matching_calls_only(
    onec: OneC, client: httpx.AsyncClient
) -> None:
    armed = await client.post("/_sandbox/faults", json={"kind": "status", "status": 503, "mode": "init"})
    assert armed.status_code == 201
    await client.post("/_sandbox/faults", json={"kind": "html", "mode": "complete"})
    await onec.checkauth("catalog")
    assert (await onec.call("catalog", "init")).status_code == 503
    assert text(await onec.call("catalog", "init")).startswith("zip=yes")  # spent after one call
    assert text(await onec.call("catalog", "complete")).startswith("<html>")
    assert (await client.get("/_sandbox/faults")).json() == []


async def test_dropped_session_makes_the_next_call_fail(onec: OneC, client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"kind": "drop_session", "mode": "init"})
    await onec.checkauth("catalog")
    assert text(await onec.call("catalog", "init")).startswith("failure\nСессия обмена не найдена")


async def test_failed_import_step_then_a_rerun_converges_without_duplicates(
    onec: OneC, client: httpx.AsyncClient, sandbox: SiteSandbox
) -> None:
    await client.post("/_sandbox/faults", json={"kind": "fail_import_step", "step": 3})
    replies = await onec.catalog_run(small_catalog())
    assert replies[2].startswith("failure\nСбой импорта на шаге 3")
    rerun = await OneC(client).catalog_run(small_catalog())
    assert [r for r in rerun if not r.startswith("progress")] == ["success\nИмпорт успешно завершен."] * 2
    catalog = sandbox.state.catalog
    assert (len(catalog.products), len(catalog.offers)) == (36, 44)


async def test_reset_empties_the_site(onec: OneC, client: httpx.AsyncClient) -> None:
    await onec.catalog_run(small_catalog())
    assert (await client.post("/_sandbox/reset")).json() == {"reset": True}
    assert (await client.get("/_sandbox/products")).json()["total"] == 0
    assert text(await onec.call("catalog", "init")).startswith("failure\n")  # sessions are gone too


async def test_a_whole_exchange_over_a_real_socket() -> None:
    sandbox = SiteSandbox(LOGIN, PASSWORD, file_limit=8192)
    with serve_in_thread(sandbox.app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            onec = OneC(http)
            replies = await onec.catalog_run(small_catalog())
            assert replies[-1] == "success\nИмпорт успешно завершен."
            assert text(await onec.call("catalog", "deactivate", timestamp=str(onec.timestamp))).startswith(
                "success"
            )
            order = {
                "customer": {"name": "Ольга", "email": "olga@example.ru", "phone": "+7"},
                "items": [{"offer": "bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1", "quantity": 1}],
                "delivery": {"service": "Самовывоз", "price": 0},
                "payment": {"system": "Счет", "paid": True},
            }
            assert (await http.post("/_sandbox/orders", json=order)).status_code == 201
            sale = OneC(http)
            await sale.checkauth("sale")
            await sale.init("sale", version="2.10")
            first = await sale.call("sale", "query")
            assert "Ольга".encode("cp1251") in first.content
            assert b"ORDER_DELIVERY" not in first.content  # free pickup: no delivery line
            assert text(await sale.call("sale", "success")) == "success"
            second = await sale.call("sale", "query")
            assert b"<\xc4\xee\xea\xf3\xec\xe5\xed\xf2>" not in second.content  # no <Документ> in cp1251
            assert (await http.get("/_sandbox/log")).json()[-1]["mode"] == "query"


async def test_slow_reply_still_answers_and_is_spent(onec: OneC, client: httpx.AsyncClient) -> None:
    await client.post(
        "/_sandbox/faults", json={"kind": "delay", "seconds": 0.05, "type": "catalog", "times": 2}
    )
    assert (await onec.checkauth("catalog"))[0] == "success"
    assert await onec.init("catalog") == ["zip=yes", "file_limit=4096"]
    assert (await client.get("/_sandbox/faults")).json() == []
    bad = await client.post("/_sandbox/faults", json={"kind": "explode"})
    assert bad.status_code == 400


async def test_old_sessions_and_their_files_are_evicted(
    client: httpx.AsyncClient, sandbox: SiteSandbox
) -> None:
    first = OneC(client)
    await first.checkauth("catalog")
    for _ in range(40):
        await OneC(client).checkauth("catalog")
    assert len(list(sandbox.state.work_dir.iterdir())) == 32
    assert text(await first.call("catalog", "init")).startswith("failure\nСессия обмена не найдена")
