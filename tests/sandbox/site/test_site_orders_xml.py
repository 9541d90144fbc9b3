"""The orders answer next to the real Bitrix one (fixture bitrix-site-orders-2.05), and text round trips."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from site_driver import FIXTURES

from obmen_sandbox.site.export import orders_xml
from obmen_sandbox.site.orders import Customer, Item, OrderBook

BITRIX = FIXTURES / "bitrix-site-orders-2.05" / "query-response-full.xml"
NOW = datetime(2026, 11, 23, 9, 30, 0)


def _book() -> OrderBook:
    return OrderBook(lambda: NOW)


def _ours(name: str = "Иван", comment: str = "") -> etree._Element:
    book = _book()
    order = book.create(
        Customer(name, "ivan@example.ru", "+7"),
        [Item("offer-1", "Коврик", Decimal(1), Decimal("231.74"))],
        ("Самовывоз", Decimal(0)),
        "Счет",
    )
    order.customer_comment = comment
    return etree.fromstring(orders_xml([order], book, "cat-1", NOW))


def _tags(elem: etree._Element | None) -> list[str]:
    assert elem is not None
    return [str(child.tag) for child in elem]


def _is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(tag in it for tag in small)


def test_document_shape_follows_the_real_bitrix_answer() -> None:
    bitrix = etree.parse(str(BITRIX)).getroot()
    ours = _ours(comment="Позвонить")
    assert {k: v for k, v in bitrix.attrib.items() if k != "ДатаФормирования"} == {
        k: v for k, v in ours.attrib.items() if k != "ДатаФормирования"
    }
    theirs_doc, our_doc = bitrix.find("Документ"), ours.find("Документ")
    assert _tags(theirs_doc) == _tags(our_doc)
    assert _is_subsequence(_tags(bitrix.find(".//Контрагент")), _tags(ours.find(".//Контрагент")))
    assert _tags(bitrix.find(".//Товар")) == _tags(ours.find(".//Товар"))
    assert theirs_doc is not None
    assert our_doc is not None
    names = [r.findtext("Наименование") for r in theirs_doc.iterfind("ЗначенияРеквизитов/*")]
    our_names = [r.findtext("Наименование") for r in our_doc.iterfind("ЗначенияРеквизитов/*")]
    assert names == our_names  # same requisites in the same order for an unpaid, pending pickup order


def test_empty_answer_is_the_bare_root() -> None:
    book = _book()
    root = etree.fromstring(orders_xml([], book, "", NOW))
    empty = etree.parse(str(FIXTURES / "bitrix-site-orders-2.05" / "query-response-empty.xml")).getroot()
    assert (len(root), root.attrib.keys()) == (len(empty), empty.attrib.keys())


XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), min_size=1
).filter(lambda s: s.strip() == s and s != "")


@settings(max_examples=200)
@given(name=XML_TEXT)
def test_any_customer_name_survives_windows_1251(name: str) -> None:
    party = _ours(name=name).find(".//Контрагент")
    assert party is not None
    assert party.findtext("Наименование") == name
