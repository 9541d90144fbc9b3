"""Catalog changes for a site as 1C's files: read back by the codec, change-only, one bad object alone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from obmen.connectors.commerceml import Offer, PriceType, Product, RunContext, Section, Warehouse, read
from obmen.connectors.site.catalog import CatalogChanges, write_files
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import to_fields


def test_changes_read_back_as_a_change_only_catalog_and_one_bad_product_stays_out(tmp_path: Path) -> None:
    changes = CatalogChanges()
    changes.add("product", "p1", to_fields(canon.Product(name="Коврик", xml_id="p1", article="A-1")))
    changes.add("product", "p2", {"xml_id": "p2"})  # no name: not a product anyone can write
    changes.add("price_type", "pt", to_fields(canon.PriceType(name="Розничная", xml_id="pt")))
    price = canon.Price(price_type=Ref(EntityType.PRICE_TYPE, "pt"), value=Money(Decimal("990.5")))
    offer = canon.Offer(product=Ref(EntityType.PRODUCT, "p1"), name="Коврик", xml_id="p1#c1", prices=(price,))
    changes.add("offer", "p1#c1", to_fields(offer))
    changes.add("warehouse", "#total", {"name": "Все склады", "xml_id": "#total"})
    changes.add("warehouse", "w1", to_fields(canon.Warehouse(name="Москва", xml_id="w1")))
    files, refused = write_files(tmp_path, changes, catalog_id="cat-1")
    assert list(files) == ["import.xml", "offers.xml"]
    assert list(refused) == ["p2"]
    context = RunContext()
    items = [i for name in files.values() for i in read(name, context)]
    assert [s.changes_only for s in items if isinstance(s, Section) and s.kind.value != "classifier"] == [
        True,
        True,
    ]
    assert [(p.id, p.name) for p in items if isinstance(p, Product)] == [("p1", "Коврик")]
    [written] = [o for o in items if isinstance(o, Offer)]
    assert (written.product_id, written.prices[0].value) == ("p1", Decimal("990.5"))
    assert [p.name for p in items if isinstance(p, PriceType)] == ["Розничная"]
    # The total-stock pseudo-warehouse is not declared to the site as a warehouse.
    assert [w.id for w in items if isinstance(w, Warehouse)] == ["w1"]
