"""The bad-input corpus at the XML level (docs/protocols/commerceml.md §6): each case is refused with a clear
`ProtocolError` naming the file, and nothing of a local file or an entity expansion ever comes out."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from obmen.connectors.commerceml import Document, DocumentKind, Item, Offer, Product, Section, read, sniff
from obmen.errors import ProtocolError

SECRET = "obmen-secret-4f1c9e"
ROOT = '<КоммерческаяИнформация ВерсияСхемы="2.07">'
GOOD = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n{ROOT}<Каталог><Ид>c</Ид><Товары>'
    "<Товар><Ид>p1</Ид><Наименование>Молоток</Наименование></Товар>"
    "</Товары></Каталог></КоммерческаяИнформация>"
)


def _read_all(data: bytes, tmp_path: Path, name: str = "import.xml") -> list[Item]:
    path = tmp_path / name
    path.write_bytes(data)
    return list(read(path))


def _refused(data: bytes, tmp_path: Path) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        _read_all(data, tmp_path)
    assert "import.xml" in str(caught.value)
    assert isinstance(caught.value, ProtocolError)
    return caught.value


def test_the_good_file_reads(tmp_path: Path) -> None:
    items = _read_all(GOOD.encode(), tmp_path)
    assert [i.name for i in items if isinstance(i, Product)] == ["Молоток"]


def test_xxe_reading_a_local_file_is_refused_and_leaks_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    doc = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        f"{ROOT}<Документ><Ид>1</Ид><Номер>&xxe;</Номер><Дата>2024-01-01</Дата></Документ>"
        "</КоммерческаяИнформация>"
    )
    error = _refused(doc.encode(), tmp_path)
    assert "DOCTYPE" in str(error)
    assert SECRET not in str(error)


def test_xxe_without_the_doctype_check_would_still_not_expand(tmp_path: Path) -> None:
    """Even what is yielded before the refusal carries no file content (no item precedes the root)."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    doc = f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>{ROOT}<Документ><Номер>&xxe;</Номер></Документ>'
    got: list[Item] = []
    with pytest.raises(ProtocolError):
        got.extend(read(io.BytesIO(doc.encode()), name="stream.xml"))
    assert got == []


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    entities = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    doc = f"<!DOCTYPE x [{entities}]>{ROOT}<Документ><Номер>&a9;</Номер></Документ></КоммерческаяИнформация>"
    error = _refused(doc.encode(), tmp_path)
    assert "DOCTYPE" in str(error)


def test_a_doctype_after_comments_and_instructions_is_refused_naming_its_line(tmp_path: Path) -> None:
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    prolog = declaration + '<!-- 1C -->\n<?обмен x?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n'
    error = _refused((prolog + GOOD.split("\n", 1)[1]).encode(), tmp_path)
    assert "line 4: a DOCTYPE" in str(error)


def test_a_prolog_of_many_instructions_is_read_in_one_pass(tmp_path: Path) -> None:
    # A pattern with a repeated lazy group tried every way of splitting 60 instructions (found by
    # tests/fuzz: a hang that pytest-timeout ends); the prolog is now walked once.
    declaration, rest = GOOD.split("\n", 1)
    doc = declaration + "\n" + "<?pi x?>" * 60 + "\n" + rest
    items = _read_all(doc.encode(), tmp_path)
    assert [i.name for i in items if isinstance(i, Product)] == ["Молоток"]


def test_a_plain_doctype_is_refused(tmp_path: Path) -> None:
    doc = GOOD.replace(
        "\n", '\n<!DOCTYPE КоммерческаяИнформация SYSTEM "http://example.invalid/cml.dtd">\n', 1
    )
    assert "DOCTYPE" in str(_refused(doc.encode(), tmp_path))


def test_truncated_xml_names_the_line(tmp_path: Path) -> None:
    data = (GOOD.replace("><", ">\n<")).encode()
    error = _refused(data[: len(data) // 2], tmp_path)
    assert "line" in str(error)


def test_truncated_xml_after_items_were_read_fails_at_the_end(tmp_path: Path) -> None:
    body = "".join(f"<Товар><Ид>p{i}</Ид><Наименование>n{i}</Наименование></Товар>" for i in range(50))
    doc = f"{ROOT}<Каталог><Ид>c</Ид><Товары>{body}"
    path = tmp_path / "import.xml"
    path.write_text(doc)
    got: list[Item] = []
    with pytest.raises(ProtocolError, match=r"import\.xml: line"):
        got.extend(read(path))
    assert sum(isinstance(i, Product) for i in got) == 50


def test_windows_1251_label_on_utf8_bytes_is_refused(tmp_path: Path) -> None:
    doc = GOOD.replace('encoding="UTF-8"', 'encoding="windows-1251"')
    error = _refused(doc.encode("utf-8"), tmp_path)
    assert "windows-1251" in str(error)


def test_utf8_label_on_windows_1251_bytes_is_refused(tmp_path: Path) -> None:
    error = _refused(GOOD.encode("cp1251"), tmp_path)
    assert "line" in str(error)


def test_an_unknown_encoding_is_refused(tmp_path: Path) -> None:
    _refused(GOOD.replace('encoding="UTF-8"', 'encoding="x-no-such-charset"').encode(), tmp_path)


def test_utf16_is_refused(tmp_path: Path) -> None:
    _refused(GOOD.replace("UTF-8", "UTF-16").encode("utf-16"), tmp_path)


@pytest.mark.parametrize(
    "data",
    [b"", b"not xml at all", b"\x00\xff\xfe\x01garbage", b"PK\x03\x04zipfile", b"success\nPHPSESSID\n"],
    ids=["empty", "text", "binary", "zip", "protocol-reply"],
)
def test_not_xml_at_all(data: bytes, tmp_path: Path) -> None:
    _refused(data, tmp_path)
    with pytest.raises(ProtocolError):
        sniff(io.BytesIO(data))


def test_a_foreign_root_is_refused(tmp_path: Path) -> None:
    error = _refused(b'<?xml version="1.0"?><html><body>502 Bad Gateway</body></html>', tmp_path)
    assert "КоммерческаяИнформация" in str(error)


def test_a_bad_number_names_the_line(tmp_path: Path) -> None:
    doc = (
        f"{ROOT}\n<Документ><Ид>1</Ид><Номер>1</Номер><Дата>2024-01-01</Дата>\n<Сумма>12,3,4</Сумма>"
        "</Документ></КоммерческаяИнформация>"
    )
    error = _refused(doc.encode(), tmp_path)
    assert "line 3" in str(error)
    assert "Сумма" in str(error)


def test_windows_1251_with_a_bom_free_declaration_reads(tmp_path: Path) -> None:
    doc = GOOD.replace("UTF-8", "windows-1251")
    items = _read_all(doc.encode("cp1251"), tmp_path)
    assert [i.name for i in items if isinstance(i, Product)] == ["Молоток"]


def test_utf8_with_bom_and_no_namespace_reads_from_a_stream() -> None:
    data = b"\xef\xbb\xbf" + GOOD.encode()
    assert sniff(io.BytesIO(data)) is DocumentKind.CATALOG
    items = list(read(io.BytesIO(data)))
    assert sum(isinstance(i, Product) for i in items) == 1


def test_a_document_in_a_bitrix_container_is_read() -> None:
    doc = (
        f"{ROOT}<Контейнер><Документ><Ид>7</Ид><Номер>7</Номер><Дата>2024-01-01</Дата></Документ></Контейнер>"
    )
    items = list(read(io.BytesIO((doc + "</КоммерческаяИнформация>").encode())))
    assert [i.id for i in items if isinstance(i, Document)] == ["7"]


def test_offers_changes_209_link_the_characteristic_and_read_warehouse_attributes() -> None:
    doc = (
        f"{ROOT}<ИзмененияПакетаПредложений><Ид>cat#</Ид><ИдКаталога>cat</ИдКаталога><Предложения>"
        "<Предложение><Ид>p1</Ид><ИдХарактеристики>c7</ИдХарактеристики>"
        '<Склады ИдСклада="w1" КоличествоНаСкладе="4"/><Склады ИдСклада="w2" КоличествоНаСкладе="1.5"/>'
        "<Количество>5.5</Количество></Предложение>"
        "</Предложения></ИзмененияПакетаПредложений></КоммерческаяИнформация>"
    )
    data = doc.encode()
    assert sniff(io.BytesIO(data)) is DocumentKind.OFFERS_CHANGES
    offer = next(i for i in read(io.BytesIO(data)) if isinstance(i, Offer))
    assert (offer.id, offer.product_id, offer.characteristic_id) == ("p1#c7", "p1", "c7")
    assert [(s.warehouse_id, s.quantity) for s in offer.stock] == [("w1", Decimal(4)), ("w2", Decimal("1.5"))]
    assert offer.quantity == Decimal("5.5")


def test_rests_208_per_warehouse_and_a_prices_only_file() -> None:
    rests = (
        f'{ROOT}<ПакетПредложений СодержитТолькоИзменения="true"><Ид>cat#</Ид>'
        "<Предложения><Предложение><Ид>p2</Ид>"
        "<Остатки><Остаток><Склад><Ид>w1</Ид><Количество>10</Количество></Склад></Остаток>"
        "<Остаток><Склад><Ид>w2</Ид><Количество>2</Количество></Склад></Остаток></Остатки>"
        "</Предложение></Предложения></ПакетПредложений></КоммерческаяИнформация>"
    )
    items = list(read(io.BytesIO(rests.encode())))
    section = next(i for i in items if isinstance(i, Section))
    assert section.changes_only
    offer = next(i for i in items if isinstance(i, Offer))
    assert [(s.warehouse_id, s.quantity) for s in offer.stock] == [("w1", Decimal(10)), ("w2", Decimal(2))]
    assert (offer.prices, offer.quantity) == ((), None)
    total = rests.replace(
        "<Склад><Ид>w1</Ид><Количество>10</Количество></Склад>", "<Количество>10</Количество>"
    )
    offer = next(i for i in read(io.BytesIO(total.encode())) if isinstance(i, Offer))
    assert offer.quantity == Decimal(10)
