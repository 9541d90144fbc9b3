"""Codec items → mirror records: entities, ids, and what a file covers in full (docs/protocols/commerceml.md).

See §2.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from obmen.connectors.commerceml import RunContext, read
from obmen.connectors.mirrored.records import FileReport, Record, records

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "commerceml"


def run(*sources: Path | bytes) -> tuple[list[Record], list[FileReport]]:
    context = RunContext()
    out: list[Record] = []
    reports = []
    for source in sources:
        report = FileReport()
        stream = io.BytesIO(source) if isinstance(source, bytes) else source
        out += records(read(stream, context), context, report)
        reports.append(report)
    return out, reports


def test_a_full_ut11_run_maps_every_object_and_covers_its_kinds() -> None:
    folder = FIXTURES / "ut11-outlet-2.07"
    found, (catalog, offers) = run(folder / "import0_1.xml", folder / "offers0_1.xml")
    kinds = Counter(r.entity for r in found)
    assert (kinds["product"], kinds["offer"]) == (1197, 2641)
    assert catalog.full == {"category", "product"}
    assert catalog.catalog_id == offers.catalog_id is not None
    # The offers file repeats the classifier header without groups: it says nothing about them.
    assert offers.full == {"offer"}
    # Offers with only a total `<Количество>` refer to the pseudo-warehouse, registered once per file.
    assert [r.external_id for r in found if r.entity == "warehouse"].count("#total") == 1
    offer = next(r for r in found if r.entity == "offer" and "#" in r.external_id)
    assert offer.fields["product"] == {"$ref": "product", "id": offer.external_id.partition("#")[0]}


def test_a_split_classifier_is_kept_across_the_files_of_a_run() -> None:
    folder = FIXTURES / "ut11-demo-carono"
    found, _ = run(folder / "classifier.xml", folder / "import_wo_classifier.xml")
    products = [r for r in found if r.entity == "product"]
    assert products
    # Property values resolved through the classifier of the earlier file, not left as raw ids.
    resolved = [value for r in products for _, value in r.fields["properties"]]
    assert resolved
    assert not any(len(v) == 36 and v.count("-") == 4 for v in resolved)


DELTA = """<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация ВерсияСхемы="2.08"><ПакетПредложений СодержитТолькоИзменения="true">
<Ид>c#</Ид><Наименование>p</Наименование><ИдКаталога>c</ИдКаталога><ИдКлассификатора>c</ИдКлассификатора>
<Предложения><Предложение><Ид>p1#c1</Ид>
<Остатки><Остаток><Склад><Ид>w1</Ид><Количество>7</Количество></Склад></Остаток></Остатки>
</Предложение></Предложения></ПакетПредложений></КоммерческаяИнформация>""".encode()


def test_a_rests_only_delta_carries_stock_and_nothing_else() -> None:
    [record], [report] = run(DELTA)
    assert report.full == set()
    assert record.fields["stock"] == [{"warehouse": {"$ref": "warehouse", "id": "w1"}, "quantity": "7"}]
    # No name, no prices: the receiver keeps what it mirrored for those.
    assert "prices" not in record.fields
    assert "name" not in record.fields


def documents(*operations: str) -> bytes:
    body = "".join(
        f"<Документ><Ид>d{i}</Ид><Номер>{i}</Номер><Дата>2024-01-01</Дата><ХозОперация>{op}</ХозОперация>"
        f"<Валюта>RUB</Валюта><Сумма>10</Сумма><Контрагенты><Контрагент><Ид>k{i}</Ид><Наименование>К</Наименование>"
        "<Роль>Покупатель</Роль></Контрагент></Контрагенты></Документ>"
        for i, op in enumerate(operations)
    )
    head = '<?xml version="1.0" encoding="UTF-8"?><КоммерческаяИнформация ВерсияСхемы="2.10">'
    return f"{head}{body}</КоммерческаяИнформация>".encode()


@pytest.mark.parametrize(
    ("operations", "orders", "skipped"),
    [
        (("Заказ товара", "Заказ товара"), 2, 0),
        (("Заказ товара", "Выплата безналичных денег", "Отпуск товара"), 1, 2),
    ],
)
def test_only_order_documents_become_orders(operations: tuple[str, ...], orders: int, skipped: int) -> None:
    found, [report] = run(documents(*operations))
    assert [r.entity for r in found].count("order") == orders
    assert len(report.skipped) == skipped
    # A document's counterparty comes right before its order.
    assert [r.entity for r in found][:2] == ["counterparty", "order"]


def test_1c_orders_fixture_maps_every_document() -> None:
    found, [report] = run(FIXTURES / "erp-2.07" / "orders.xml")
    orders = [r for r in found if r.entity == "order"]
    assert len(orders) == 216
    assert report.skipped == []
    numbers = [dict(o.fields["external_numbers"]) for o in orders]
    assert sum("onec" in n for n in numbers) == 216
    assert sum("onec_shipment" in n for n in numbers) == 206
