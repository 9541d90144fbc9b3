"""1C's counterparties alone (`<Контрагенты>` under the root): read, not taken for a classifier."""

from __future__ import annotations

import io
from pathlib import Path

from obmen.connectors.commerceml import Counterparty, Document, DocumentKind, FileInfo, RunContext, read
from obmen.connectors.mirrored.records import FileReport, records

PARTIES = (
    Path(__file__).parents[2] / "fixtures" / "commerceml" / "authored" / "counterparties-2.09.xml"
).read_text()


def test_a_counterparty_file_carries_its_counterparties() -> None:
    items = list(read(io.BytesIO(PARTIES.encode()), name="contragents.xml"))
    info = items[0]
    assert isinstance(info, FileInfo)
    assert info.kind is DocumentKind.COUNTERPARTIES
    parties = [i for i in items if isinstance(i, Counterparty)]
    assert [(p.id, p.inn, p.kpp) for p in parties] == [
        ("a1b2", "7707083893", "773601001"),
        ("c3d4", None, None),
    ]


def test_its_records_are_contacts_and_companies_with_requisites() -> None:
    context = RunContext()
    out = {
        r.external_id: r.fields for r in records(read(io.BytesIO(PARTIES.encode())), context, FileReport())
    }
    assert out["a1b2"]["kind"] == "organization"
    assert out["a1b2"]["requisites"]["inn"] == "7707083893"
    assert out["a1b2"]["requisites"]["legal_address"] == "Москва, ул. Тверская, 1"
    assert out["a1b2"]["emails"] == ["info@romashka.ru"]
    assert out["c3d4"]["kind"] == "person"
    assert out["c3d4"]["phones"] == ["+79120000001"]


def test_a_documents_buyers_are_read_once_inside_their_document() -> None:
    doc = """<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация ВерсияСхемы="2.05"><Документ><Ид>d1</Ид><Номер>1</Номер><Дата>2026-11-30</Дата>
<Контрагенты><Контрагент><Ид>x</Ид><Наименование>Иван</Наименование><Роль>Покупатель</Роль></Контрагент>
</Контрагенты><Сумма>0</Сумма></Документ></КоммерческаяИнформация>"""
    items = list(read(io.BytesIO(doc.encode())))
    assert not [i for i in items if isinstance(i, Counterparty)]
    documents = [i for i in items if isinstance(i, Document)]
    assert [p.id for p in documents[0].counterparties] == ["x"]
