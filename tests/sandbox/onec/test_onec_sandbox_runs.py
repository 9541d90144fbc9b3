"""The sandbox 1C's catalog runs against the recording server (`onec_recording_site`)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import httpx
import pytest
from onec_recording_site import (
    LOGIN,
    TARGET,
    Site,
    assert_every_call_authenticated,
    control,
    local_count,
    recording_server,
    sandbox_for,
)

from obmen_sandbox.onec import OnecSandbox


async def test_full_catalog_run_makes_the_calls_1c_makes() -> None:
    site = Site()
    sandbox = sandbox_for(site)
    async with control(sandbox) as api:
        response = await api.post("/_sandbox/exchange/catalog", json={"changes_only": False})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["ok"] is True
    assert [(call.method, call.mode, call.params.get("filename")) for call in site.calls] == [
        ("GET", "checkauth", None),
        ("GET", "init", None),
        ("POST", "file", "import0_1.xml"),
        ("POST", "file", "offers0_1.xml"),
        ("GET", "import", "import0_1.xml"),
        ("GET", "import", "offers0_1.xml"),
        ("GET", "deactivate", None),
        ("GET", "complete", None),
    ]
    assert_every_call_authenticated(site)
    assert site.calls[-2].params["timestamp"] == site.timestamp  # §1.6: checkauth line 5
    assert all(call.kind == "catalog" for call in site.calls)
    assert local_count(bytes(site.files["import0_1.xml"]), "Товар") == 12
    assert local_count(bytes(site.files["offers0_1.xml"]), "Предложение") == 25
    assert bytes(site.files["import0_1.xml"][:41]) == b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>'
    assert b'xmlns="urn:1C.ru:commerceml_2"' in site.files["import0_1.xml"]
    assert b"\xd0\x92\xd0\xb5\xd1\x80\xd1\x81\xd0\xb8\xd1\x8f" in site.files["import0_1.xml"]  # "Версия"
    assert [step["query"].split("&")[1] for step in summary["transcript"]] == [
        f"mode={m}" for m in site.modes()
    ]


async def test_uploads_are_cut_at_the_file_limit_and_reassemble_exactly() -> None:
    site = Site(file_limit=4096)
    sandbox = sandbox_for(site)
    result = await sandbox.run_catalog()
    assert result["ok"] is True, result
    posts = [call for call in site.calls if call.mode == "file"]
    assert all(0 < len(call.body) <= 4096 for call in posts)
    for upload in result["uploads"]:
        chunks = [call for call in posts if call.params["filename"] == upload["filename"]]
        assert len(chunks) == upload["chunks"] == -(-upload["bytes"] // 4096)
        assert len(site.files[upload["filename"]]) == upload["bytes"]
    assert local_count(bytes(site.files["offers0_1.xml"]), "Предложение") == 25
    assert_every_call_authenticated(site)


async def test_zip_upload_then_import_names_the_xml_inside_and_repeats_on_unzip_progress() -> None:
    site = Site(zip=True, file_limit=5000)
    sandbox = sandbox_for(site)
    result = await sandbox.run_catalog()
    assert result["ok"] is True, result
    files = {call.params["filename"] for call in site.calls if call.mode == "file"}
    assert len(files) == 1
    (archive_name,) = files
    assert re.fullmatch(r"v8_[0-9A-F]{4}_1\.zip", archive_name)
    with zipfile.ZipFile(io.BytesIO(bytes(site.files[archive_name]))) as archive:
        assert archive.namelist() == ["import0_1.xml", "offers0_1.xml"]
    imports = [call.params["filename"] for call in site.calls if call.mode == "import"]
    assert imports == ["import0_1.xml", "import0_1.xml", "offers0_1.xml"]  # the first answered unzip progress
    assert result["imports"] == [
        {"filename": "import0_1.xml", "calls": 2},
        {"filename": "offers0_1.xml", "calls": 1},
    ]


async def test_import_is_repeated_while_the_server_answers_progress() -> None:
    site = Site(progress_steps=3)
    result = await sandbox_for(site).run_catalog()
    assert result["ok"] is True
    assert [call.params["filename"] for call in site.calls if call.mode == "import"] == [
        "import0_1.xml"
    ] * 4 + ["offers0_1.xml"] * 4


async def test_endless_progress_stops_at_the_bound_with_a_clear_error() -> None:
    site = Site(endless_progress=True)
    sandbox = sandbox_for(site, max_import_steps=5)
    async with control(sandbox) as api:
        response = await api.post("/_sandbox/exchange/catalog", json={})
    assert response.status_code == 502
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["mode"] == "import"
    assert "5" in body["error"]["reason"]
    assert "progress" in body["error"]["reason"]
    assert site.modes().count("import") == 5
    assert "complete" not in site.modes()
    assert len(body["transcript"]) == len(site.calls)


async def test_failure_line_is_surfaced_with_its_reason_and_the_run_does_not_count() -> None:
    site = Site(fail={"import": "Ошибка разбора XML: строка 7"})
    sandbox = sandbox_for(site)
    result = await sandbox.run_catalog()
    assert result["ok"] is False
    assert result["error"] == {"mode": "import", "reason": "Ошибка разбора XML: строка 7"}
    assert site.modes()[-1] == "import"
    # The failed run moved no change mark: a change-only run still carries everything.
    site.fail.clear()
    again = await sandbox.run_catalog(changes_only=True)
    assert again["ok"] is True
    assert again["products"] == 12
    assert again["offers"] == 25


async def test_wrong_password_fails_at_checkauth() -> None:
    site = Site()
    sandbox = OnecSandbox(TARGET, LOGIN, "wrong", transport=httpx.ASGITransport(app=recording_server(site)))
    result = await sandbox.run_catalog()
    assert result["ok"] is False
    assert result["error"]["mode"] == "checkauth"
    assert "Неверное имя пользователя или пароль" in result["error"]["reason"]
    assert site.modes() == ["checkauth"]


async def test_change_only_run_exports_only_what_changed_since_the_last_successful_run() -> None:
    site = Site()
    sandbox = sandbox_for(site)
    base = sandbox.infobase
    product = next(p for p in base.products.values() if len(base.offers_of(p.id)) > 1)
    offer = base.offers_of(product.id)[0]
    plain = next(p for p in base.products.values() if p.id in base.offers)
    async with control(sandbox) as api:
        assert (await api.post("/_sandbox/exchange/catalog", json={"changes_only": False})).status_code == 200
        renamed = await api.patch(f"/_sandbox/products/{plain.id}", json={"name": "Наушники «Тишина»"})
        assert renamed.status_code == 200, renamed.text
        priced = await api.patch(
            "/_sandbox/products/" + offer.id.replace("#", "%23"),
            json={"prices": {"Розничная": 9999}, "stock": {"Склад магазина": 7}},
        )
        assert priced.status_code == 200, priced.text
        site.calls.clear()
        result = (await api.post("/_sandbox/exchange/catalog", json={"changes_only": True})).json()
    assert result["ok"] is True
    assert (result["products"], result["offers"]) == (1, 1)
    assert "deactivate" not in site.modes()  # a delta never deactivates (§2.3)
    assert site.modes()[-1] == "complete"
    imported, offers = bytes(site.files["import0_1.xml"]), bytes(site.files["offers0_1.xml"])
    assert 'СодержитТолькоИзменения="true"'.encode() in imported
    assert "Наушники «Тишина»".encode() in imported
    assert local_count(imported, "Товар") == 1
    assert local_count(offers, "Предложение") == 1
    assert offer.id.encode() in offers
    assert "<ЦенаЗаЕдиницу>9999</ЦенаЗаЕдиницу>".encode() in offers
    quiet = await sandbox.run_catalog(changes_only=True)
    assert (quiet["products"], quiet["offers"]) == (0, 0)


async def test_deleted_product_travels_with_its_deletion_mark() -> None:
    site = Site()
    sandbox = sandbox_for(site)
    key = next(iter(sandbox.infobase.products))
    async with control(sandbox) as api:
        await api.post("/_sandbox/exchange/catalog", json={})
        assert (await api.patch(f"/_sandbox/products/{key}", json={"deleted": True})).status_code == 200
        site.calls.clear()
        result = (await api.post("/_sandbox/exchange/catalog", json={"changes_only": True})).json()
    assert result["products"] == 1
    assert result["offers"] == 0
    assert "<Статус>Удален</Статус>".encode() in site.files["import0_1.xml"]


async def test_a_three_line_checkauth_works_without_sessid_and_without_deactivate() -> None:
    site = Site(checkauth_lines=3)
    result = await sandbox_for(site).run_catalog()
    assert result["ok"] is True, result
    assert_every_call_authenticated(site)
    assert all("sessid" not in call.params for call in site.calls)
    # Without checkauth's timestamp there is nothing to deactivate against (§1.6); the run still completes.
    assert site.modes()[-2:] == ["import", "complete"]
    assert result["deactivated"] is False


CATALOG_WITH_IMAGE = """<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация xmlns="urn:1C.ru:commerceml_2" ВерсияСхемы="2.07">
  <Каталог СодержитТолькоИзменения="false"><Ид>c1</Ид><ИдКлассификатора>c1</ИдКлассификатора>
    <Наименование>Каталог</Наименование><Товары><Товар><Ид>p1</Ид><Наименование>Ваза</Наименование>
    <Картинка>import_files/ab/p1_f1.jpg</Картинка></Товар></Товары></Каталог>
</КоммерческаяИнформация>"""


@pytest.mark.parametrize("zipped", [False, True])
async def test_product_images_travel_with_the_catalog(tmp_path: Path, zipped: bool) -> None:
    (tmp_path / "import_files" / "ab").mkdir(parents=True)
    image = bytes(range(256)) * 20
    (tmp_path / "import_files" / "ab" / "p1_f1.jpg").write_bytes(image)
    (tmp_path / "import.xml").write_text(CATALOG_WITH_IMAGE, "utf-8")
    site = Site(zip=zipped, file_limit=1000)
    result = await sandbox_for(site, tmp_path).run_catalog()
    assert result["ok"] is True, result
    assert result["images"] == 1
    assert bytes(site.files["import_files/ab/p1_f1.jpg"]) == image
    if not zipped:
        uploaded = [call.params["filename"] for call in site.calls if call.mode == "file"]
        assert uploaded[0] == "import_files/ab/p1_f1.jpg"  # pictures first, then the XML naming them
        assert uploaded.count("import_files/ab/p1_f1.jpg") == -(-len(image) // 1000)
