"""Bad input: every case ends in `failure\\n<reason>`, nothing imported, nothing written outside the run."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from site_driver import OneC, small_catalog, text, zipped

from obmen_sandbox.site import SiteSandbox
from obmen_sandbox.site.files import Limits, RunDir, UnsafeInput


def _files_outside(sandbox: SiteSandbox) -> list[Path]:
    """Files under the sandbox's parent directory that are not inside some session's run directory."""
    root = sandbox.state.work_dir
    inside = [s.run.root for s in sandbox.state.sessions.values()]
    return [p for p in root.parent.rglob("*") if p.is_file() and not any(p.is_relative_to(r) for r in inside)]


async def _ready(onec: OneC, type_: str = "catalog") -> None:
    assert (await onec.checkauth(type_))[0] == "success"
    await onec.init(type_)


async def test_wrong_password_fails_with_the_bitrix_text(client: httpx.AsyncClient) -> None:
    response = await OneC(client, password="wrong").call("catalog", "checkauth")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=windows-1251"
    expected = "failure\nОшибка авторизации. Неверное имя пользователя или пароль."
    assert response.content == expected.encode("cp1251")


async def test_missing_foreign_or_mismatched_session_fails(onec: OneC, client: httpx.AsyncClient) -> None:
    anonymous = OneC(client)
    assert text(await anonymous.call("catalog", "init")).startswith("failure\nСессия обмена не найдена")
    anonymous.cookie = "PHPSESSID=0123456789abcdef0123456789abcdef"
    assert text(await anonymous.call("catalog", "init")).startswith("failure\nСессия обмена не найдена")
    await onec.checkauth("catalog")
    onec.sessid = "f" * 32
    reply = text(await onec.call("catalog", "init"))
    assert reply == "failure\nОшибка проверки источника запроса. Обновите модуль обмена."
    await onec.checkauth("catalog")
    impostor = OneC(client, password="nope")
    impostor.cookie, impostor.sessid = onec.cookie, onec.sessid
    assert text(await impostor.call("catalog", "init")).startswith("failure\nОшибка авторизации")


@pytest.mark.parametrize(
    "name",
    [
        "../evil.xml",
        "/etc/passwd",
        "a/../../evil.xml",
        "..\\..\\evil.xml",
        "C:\\evil.xml",
        "x.php",
        "",
        "a//b",
    ],
)
async def test_unsafe_filename_is_refused(onec: OneC, sandbox: SiteSandbox, name: str) -> None:
    await _ready(onec)
    reply = text(await onec.call("catalog", "file", b"<x/>", filename=name))
    assert reply.startswith("failure\n")
    assert _files_outside(sandbox) == []


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.sampled_from(list("ab./\\:~\x00")), max_size=12))
def test_any_filename_is_confined_or_refused(tmp_path: Path, name: str) -> None:
    run = RunDir(tmp_path / "run", Limits())
    run.reset()
    try:
        target = run.append(name, b"x")
    except UnsafeInput:
        return
    assert target.resolve().is_relative_to((tmp_path / "run").resolve())


def _slip_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("import0_1.xml", small_catalog()["import0_1.xml"])
        zf.writestr("../../escaped.xml", b"<x/>")
    return buf.getvalue()


async def test_zip_slip_is_refused_before_anything_is_unpacked(onec: OneC, sandbox: SiteSandbox) -> None:
    await _ready(onec)
    await onec.upload("catalog", "v8_1.zip", _slip_archive())
    replies = await onec.run_import("catalog", "import0_1.xml")
    assert replies[-1].startswith("failure\nНедопустимый путь")
    assert _files_outside(sandbox) == []
    assert sandbox.state.catalog.products == {}


async def test_zip_bomb_is_refused(onec: OneC, sandbox: SiteSandbox) -> None:
    await _ready(onec)
    await onec.upload("catalog", "v8_2.zip", zipped({"import0_1.xml": b" " * 5_000_000}))
    replies = await onec.run_import("catalog", "import0_1.xml")
    assert replies[-1].startswith("failure\nПодозрительное сжатие")
    assert sandbox.state.catalog.products == {}


BAD_XML = {
    "truncated": small_catalog()["import0_1.xml"][:60_000],
    "doctype": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<КоммерческаяИнформация><Каталог><Товары><Товар><Ид>&e;</Ид></Товар></Товары></Каталог>"
    "</КоммерческаяИнформация>".encode(),
    "laughs": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    b"<x>&b;</x>",
    "wrong encoding": '<?xml version="1.0" encoding="UTF-8"?><КоммерческаяИнформация><Каталог><Товары><Товар>'
    "<Ид>1</Ид><Наименование>Товар</Наименование></Товар></Товары></Каталог></КоммерческаяИнформация>".encode(
        "cp1251"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_XML))
@pytest.mark.parametrize("use_zip", [True, False])
async def test_bad_xml_fails_and_imports_nothing(
    onec: OneC, sandbox: SiteSandbox, case: str, use_zip: bool
) -> None:
    replies = await onec.catalog_run({"import0_1.xml": BAD_XML[case]}, use_zip=use_zip)
    assert replies[-1].startswith("failure\n")
    if case in ("doctype", "laughs"):
        assert "DOCTYPE" in replies[-1]
    assert sandbox.state.catalog.products == {}
    assert sandbox.state.catalog.sections == {}


async def test_truncated_documents_change_no_order(onec: OneC, client: httpx.AsyncClient) -> None:
    await onec.catalog_run(small_catalog(), use_zip=False)
    offer = "bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1"
    order = {
        "customer": {"name": "A", "email": "a@example.ru", "phone": "1"},
        "items": [{"offer": offer, "quantity": 1}],
        "delivery": {"service": "Самовывоз", "price": 0},
        "payment": {"system": "Счет", "paid": False},
    }
    placed = (await client.post("/_sandbox/orders", json=order)).json()
    await onec.checkauth("sale")
    await onec.init("sale", version="2.08")
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?><КоммерческаяИнформация><Документ>'
        f"<Номер>{placed['number']}</Номер><ЗначенияРеквизитов><ЗначениеРеквизита>"
        "<Наименование>Отменен</Наименование><Значение>true</Значение></ЗначениеРеквизита>"
    ).encode()
    await onec.upload("sale", "documents___1.xml", doc)
    replies = await onec.run_import("sale", "documents___1.xml")
    assert replies[-1].startswith("failure\nОшибка разбора XML")
    after = (await client.get(f"/_sandbox/orders/{placed['id']}")).json()
    assert (after["cancelled"], after["updated_by"], after["version"]) == (False, "site", 1)
