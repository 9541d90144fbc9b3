"""The sandbox 1C's infobase: every catalog fixture loads with its counts; written files read back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from onec_recording_site import FIXTURES

from obmen_sandbox.onec.cml import CmlError
from obmen_sandbox.onec.demo import demo_infobase
from obmen_sandbox.onec.infobase import Infobase
from obmen_sandbox.onec.loader import load_directory
from obmen_sandbox.onec.writer import write_catalog

# (products, offers, groups, price types, warehouses, orders), counted from the files (SOURCES.md).
COUNTS = {
    # 249 <Товар>, one Ид (36630) twice; 249 <Предложение>, 27 of them empty; 216 order documents.
    "erp-2.07": (248, 222, 28, 12, 19, 216),
    "official-samples-2.03": (4, 2, 1, 4, 0, 3),
    "ut10-2.05-django": (282, 0, 36, 0, 0, 0),
    "ut10-skus-2.04": (27, 1455, 4, 2, 0, 0),
    "ut11-2.08-ns210": (2, 2, 5, 3, 0, 0),
    "ut11-demo-carono": (2, 5, 22, 1, 5, 1),
    "ut11-outlet-2.07": (1197, 2641, 59, 1, 6, 0),
    # import0_1.xml's 35 products are all inside import0_1_with_nested_groups.xml's 283.
    "ut11-small-2.07": (283, 44, 13, 1, 3, 0),
}
CATALOG_DIRS = sorted(
    path.name for path in FIXTURES.iterdir() if any(path.glob("import*.xml")) or any(path.glob("offers*.xml"))
)


def counts(base: Infobase) -> tuple[int, ...]:
    got = base.counts()
    keys = ("products", "offers", "groups", "price_types", "warehouses", "orders")
    return tuple(got[key] for key in keys)


def test_every_catalog_fixture_directory_is_covered() -> None:
    assert sorted(COUNTS) == CATALOG_DIRS


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_fixture_directory_loads_with_its_counts(name: str) -> None:
    assert counts(load_directory(FIXTURES / name)) == COUNTS[name]


def test_outlet_values_match_the_file() -> None:
    base = load_directory(FIXTURES / "ut11-outlet-2.07")
    product = base.products["bd72d910-55bc-11d9-848a-00112f43529a"]
    assert (product.name, product.article, product.barcode) == (
        "Женские ботфорты коричневые",
        "Б-130001",
        "2000018987155",
    )
    assert product.groups == ["bd72d90e-55bc-11d9-848a-00112f43529a"]
    assert (
        base.groups["bd72d90e-55bc-11d9-848a-00112f43529a"].parent == "bd72d90d-55bc-11d9-848a-00112f43529a"
    )
    offer = base.offers["bd72d910-55bc-11d9-848a-00112f43529a#90c55447-d3a8-11e4-9423-e0cb4ed5eed4"]
    assert offer.product_id == product.id
    assert offer.prices == {"bb14a3a4-6b17-11e0-9819-e0cb4ed5eed4": Decimal(1719)}
    assert offer.stock == {"b6112590-41ba-11dd-ac9d-0015e9b8c48d": Decimal(20)}
    assert (base.version, base.namespace) == ("2.07", "urn:1C.ru:commerceml_2")
    assert sum(1 for item in base.offers.values() if "#" in item.id) == 2100


def test_erp_deletion_marks_images_and_opaque_ids() -> None:
    base = load_directory(FIXTURES / "erp-2.07")
    assert sum(product.deleted for product in base.products.values()) == 3
    assert "7958" in base.products
    assert len(base.price_types) == 12
    assert set(base.files) == {
        "import_files/1b/1b60d80e-e935-11e2-a5f4-00163c2d0dbf_9a90b973-5dd7-11e4-9b44-00155d136439.jpeg"
    }
    order = next(order for order in base.orders.values() if order.number == "4WD56")
    assert (order.onec_number, order.posted, order.paid) == ("ВК000001469", True, True)
    assert order.shipment_number == "ВК01276"  # space-padded in the file (§2.7)


def test_208_file_keeps_namespace_version_and_offer_properties() -> None:
    base = load_directory(FIXTURES / "ut11-2.08-ns210")
    assert (base.version, base.namespace) == ("2.08", "urn:1C.ru:commerceml_210")
    colour = base.properties["5ea1e6c2-cc93-11e8-8112-0050569b2b72"]
    assert colour.for_offers
    assert colour.values["6efed1d2-cc93-11e8-8112-0050569b2b72"] == "Бежевый"
    offer = base.offers["ffce323d-c133-11e8-8111-0050569b2b72#8a4e5ea9-d129-11e8-8112-0050569b2b72"]
    assert offer.characteristics == [("Цвет", "Бежевый")]
    assert offer.total() == 2


def test_windows_1251_files_load(tmp_path: Path) -> None:
    source = (FIXTURES / "official-samples-2.03" / "import.xml").read_text("utf-8")
    (tmp_path / "import.xml").write_bytes(
        source.replace('encoding="UTF-8"', 'encoding="windows-1251"').encode("windows-1251")
    )
    base = load_directory(tmp_path)
    assert base.groups["05e26d6f-01e4-11dc-a411-00055d80a2d1"].name == "Мебель"
    assert counts(base)[0] == 4


def test_split_prices_and_rests_files_merge_into_the_offers(tmp_path: Path) -> None:
    """2.08+/3.1 split files (§2.5): prices-only and rests-only packages update the same offer."""
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<КоммерческаяИнформация xmlns="urn:1C.ru:commerceml_3" ВерсияСхемы="3.1">'
    )
    (tmp_path / "prices.xml").write_text(
        head + "<ПакетПредложений><ТипыЦен><ТипЦены><Ид>t1</Ид><Наименование>Розница</Наименование></ТипЦены>"
        "</ТипыЦен><Предложения><Предложение><Ид>p1</Ид><Цены><Цена><ИдТипаЦены>t1</ИдТипаЦены>"
        "<ЦенаЗаЕдиницу>12,50</ЦенаЗаЕдиницу>"
        "</Цена></Цены></Предложение></Предложения></ПакетПредложений></КоммерческаяИнформация>",
        "utf-8",
    )
    (tmp_path / "rests.xml").write_text(
        head + "<ПакетПредложений><Предложения><Предложение><Ид>p1</Ид><Остатки><Остаток><Склад><Ид>w1</Ид>"
        "<Количество>4</Количество></Склад></Остаток><Остаток><Склад><Ид>w2</Ид><Количество>6</Количество></Склад>"
        "</Остаток></Остатки></Предложение></Предложения></ПакетПредложений></КоммерческаяИнформация>",
        "utf-8",
    )
    offer = load_directory(tmp_path).offers["p1"]
    assert offer.prices == {"t1": Decimal("12.50")}
    assert offer.stock == {"w1": Decimal(4), "w2": Decimal(6)}
    assert offer.total() == 10


@pytest.mark.parametrize(
    "body",
    [
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><КоммерческаяИнформация>&xxe;</КоммерческаяИнформация>',
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
        "<!DOCTYPE КоммерческаяИнформация><КоммерческаяИнформация/>",
        "<КоммерческаяИнформация><Каталог><Товары><Товар><Ид>1</Ид>",
    ],
    ids=["xxe", "laughs", "doctype", "truncated"],
)
def test_unsafe_or_broken_files_are_refused(tmp_path: Path, body: str) -> None:
    (tmp_path / "import.xml").write_text('<?xml version="1.0" encoding="UTF-8"?>' + body, "utf-8")
    with pytest.raises(CmlError, match=r"import\.xml"):
        load_directory(tmp_path)


def write_and_reload(base: Infobase, tmp_path: Path) -> Infobase:
    files = write_catalog(base, changes_only=False, since=0, now=datetime(2026, 1, 1, 12, 0, 0))
    for name, data in files.files:
        (tmp_path / name).write_bytes(data)
    return load_directory(tmp_path)


def snapshot(base: Infobase) -> dict[str, object]:
    return {
        "products": {
            k: (p.name, p.article, p.barcode, p.groups, p.deleted, p.properties)
            for k, p in base.products.items()
        },
        "offers": {
            k: (o.name, o.characteristics, o.prices, o.stock, o.total())
            for k, o in base.offers.items()
            if o.product_id not in {p.id for p in base.products.values() if p.deleted}
        },
        "groups": {k: (g.name, g.parent) for k, g in base.groups.items()},
        "price_types": {k: t.name for k, t in base.price_types.items()},
        "warehouses": {k: w.name for k, w in base.warehouses.items()},
    }


@pytest.mark.parametrize("name", ["ut11-outlet-2.07", "ut11-2.08-ns210", "ut10-skus-2.04", "erp-2.07"])
def test_written_catalog_reads_back_the_same(name: str, tmp_path: Path) -> None:
    base = load_directory(FIXTURES / name)
    base.orders.clear()
    again = write_and_reload(base, tmp_path)
    assert snapshot(again) == snapshot(base)
    assert (again.version, again.namespace) == (base.version, base.namespace)


def test_demo_infobase_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    first, second = demo_infobase(), demo_infobase()
    assert snapshot(first) == snapshot(second)
    assert counts(first) == (12, 25, 9, 3, 2, 0)
    assert snapshot(write_and_reload(first, tmp_path)) == snapshot(first)


NAMES = (
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30
    )
    .map(str.strip)
    .filter(bool)
)
AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_edited_demo_round_trips(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    base = demo_infobase()
    kinds, stores = list(base.price_types), list(base.warehouses)
    for offer in data.draw(st.lists(st.sampled_from(sorted(base.offers)), max_size=6, unique=True)):
        target = base.offers[offer]
        target.prices[data.draw(st.sampled_from(kinds))] = data.draw(AMOUNTS)
        target.stock[data.draw(st.sampled_from(stores))] = data.draw(AMOUNTS)
    for key in data.draw(st.lists(st.sampled_from(sorted(base.products)), max_size=4, unique=True)):
        base.products[key].name = data.draw(NAMES)
        base.products[key].deleted = data.draw(st.booleans())
    again = write_and_reload(base, tmp_path_factory.mktemp("rt"))
    assert snapshot(again) == snapshot(base)


XSD_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(FIXTURES / "xsd" / "CML209.xsd"), XSD_PARSER))


@pytest.mark.parametrize("name", ["demo", "ut11-outlet-2.07", "ut11-small-2.07", "ut11-demo-carono"])
def test_written_catalog_is_valid_against_the_published_schema(name: str, schema: etree.XMLSchema) -> None:
    """Files in namespace `commerceml_2` validate against the 2.09 XSD (the fixtures' own namespace)."""
    base = demo_infobase() if name == "demo" else load_directory(FIXTURES / name)
    files = write_catalog(base, changes_only=False, since=0, now=datetime(2026, 1, 1))
    for file_name, data in files.files:
        assert schema.validate(etree.fromstring(data, XSD_PARSER)), (file_name, str(schema.error_log)[:500])


def test_deleted_product_carries_the_mark_as_attribute_and_element(schema: etree.XMLSchema) -> None:
    base = demo_infobase()
    next(iter(base.products.values())).deleted = True
    data = write_catalog(base, changes_only=False, since=0, now=datetime(2026, 1, 1)).files[0][1]
    root = etree.fromstring(data, XSD_PARSER)
    (marked,) = [item for item in root.iter("{*}Товар") if item.get("Статус") == "Удален"]
    assert marked.findtext("{*}Статус") == "Удален"
    # The element form (real ERP files, §2.3) is the one deviation from the 2.09 XSD.
    assert not schema.validate(root)
    assert "Статус" in str(schema.error_log)
