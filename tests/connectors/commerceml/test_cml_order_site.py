"""An order document that names no site leaves the order's site as it was (docs/commerceml.md §2.7)."""

from __future__ import annotations

from obmen.connectors.commerceml.items import Document
from obmen.connectors.commerceml.mapping import order_fields


def test_a_1c_document_without_a_site_does_not_clear_the_site() -> None:
    onec = Document(id="1", number="7", date="2026-11-23", requisites=(("Номер по 1С", "ОБ-000007"),))
    assert "site" not in order_fields(onec)


def test_a_bitrix_document_names_its_site() -> None:
    site = Document(id="1", number="7", date="2026-11-23", requisites=(("Сайт", "[s1] Интернет-магазин"),))
    assert order_fields(site)["site"] == "s1"
