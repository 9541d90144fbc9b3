"""Any input to any catalog method gets an answer or a clear 400 error, never a crash.

Calls start from a valid request of each method and corrupt a few fields, so that the sequences reach
deep paths (parents gaining variations, documents conducted) as well as the validation.
"""

from __future__ import annotations

from typing import Any

from catalog_fixtures import open_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obmen_sandbox.bitrix24.catalog import OFFERS_IBLOCK, PRODUCT_IBLOCK
from obmen_sandbox.bitrix24.registry import METHODS

CATALOG_METHODS = sorted(m.name for m in METHODS.values() if m.name.startswith("catalog."))
VALID_FIELDS: dict[str, dict[str, Any]] = {
    "catalog.product.add": {"iblockId": PRODUCT_IBLOCK, "name": "p", "quantity": 1},
    "catalog.product.sku.add": {"iblockId": PRODUCT_IBLOCK, "name": "s"},
    "catalog.product.offer.add": {"iblockId": OFFERS_IBLOCK, "name": "o", "parentId": 2},
    "catalog.section.add": {"iblockId": PRODUCT_IBLOCK, "name": "s"},
    "catalog.price.add": {"productId": 1, "catalogGroupId": 1, "price": 5, "currency": "RUB"},
    "catalog.price.modify": {
        "product": {"id": 1, "prices": [{"catalogGroupId": 1, "price": 1, "currency": "RUB"}]}
    },
    "catalog.document.add": {"docType": "A", "currency": "RUB", "responsibleId": 1},
    "catalog.document.element.add": {"docId": 1, "elementId": 1, "storeTo": 1, "storeFrom": 1, "amount": 3},
    "catalog.productProperty.add": {
        "iblockId": OFFERS_IBLOCK,
        "name": "p",
        "propertyType": "S",
        "multiple": "Y",
    },
}
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=6),
    st.sampled_from(
        [PRODUCT_IBLOCK, OFFERS_IBLOCK, "Y", "N", "A", "D", "M", "RUB", "", "2026-01-01T00:00:00"]
    ),
    st.text(max_size=4),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["value", "id", "0"]), inner)
    ),
    max_leaves=5,
)
CORRUPTIBLE = [
    "iblockId",
    "name",
    "parentId",
    "quantity",
    "iblockSectionId",
    "property98",
    "previewPicture",
    "id",
]
CORRUPTIBLE += [
    "price",
    "currency",
    "docType",
    "docId",
    "elementId",
    "storeTo",
    "storeFrom",
    "amount",
    "product",
]


@st.composite
def request(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(CATALOG_METHODS))
    verb = name.rsplit(".", 1)[1]
    body: dict[str, Any] = {}
    if verb not in ("add", "list", "modify", "getFieldsByFilter", "status"):
        body["id"] = draw(st.one_of(st.integers(min_value=1, max_value=4), values))
    if verb in ("add", "update", "modify"):
        fields = dict(VALID_FIELDS.get(name, VALID_FIELDS.get(name.replace(".update", ".add"), {})))
        for key in draw(st.lists(st.sampled_from(CORRUPTIBLE), max_size=2)):
            fields[key] = draw(values)
        body["fields"] = draw(st.one_of(st.just(fields), values)) if draw(st.integers(0, 9)) == 0 else fields
    if verb in ("list", "getFieldsByFilter"):
        body["filter"] = {
            "iblockId": draw(st.sampled_from([PRODUCT_IBLOCK, OFFERS_IBLOCK])),
            ">id": draw(values),
        }
        body["select"] = draw(
            st.sampled_from([["id", "iblockId", "name", "parentId"], ["id", "iblockId"], []])
        )
        body["order"] = draw(st.one_of(st.just({"id": "desc"}), st.just({"name": "asc"}), values))
        body["start"] = draw(st.one_of(st.sampled_from([0, -1, 50]), values))
    return name, body


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(request(), min_size=1, max_size=12))
async def test_random_call_sequences_never_crash(calls: list[tuple[str, dict[str, Any]]]) -> None:
    async with open_api() as api:
        api.store_control(True)
        # Ids 1 (a simple product), 2 (a parent) and document 1 exist, so corrupted calls reach deep paths.
        await api("catalog.product.add", fields=VALID_FIELDS["catalog.product.add"])
        await api("catalog.product.sku.add", fields=VALID_FIELDS["catalog.product.sku.add"])
        await api("catalog.document.add", fields=VALID_FIELDS["catalog.document.add"])
        for name, body in calls:
            response = await api.raw(name, json=body)
            assert response.status_code in (200, 400), (name, body, response.text)
            answer = response.json()
            assert ("result" in answer) == (response.status_code == 200), answer


async def test_sparse_seeded_rows_never_crash_a_method() -> None:
    tables = [
        "catalog.section",
        "catalog.price",
        "catalog.storeproduct",
        "catalog.document",
        "catalog.document.element",
    ]
    async with open_api() as api:
        api.store_control(True)
        api.sandbox.seed(
            {"tables": {"catalog.product": [{"id": 1}], **{name: [{"id": 1}] for name in tables}}}
        )
        for name in CATALOG_METHODS:
            verb = name.rsplit(".", 1)[1]
            body: dict[str, Any] = {
                "id": 1,
                "filter": {"iblockId": PRODUCT_IBLOCK},
                "select": ["id", "iblockId"],
            }
            if verb in ("add", "update", "modify"):
                body["fields"] = dict(VALID_FIELDS.get(name, {"name": "x"}))
            if verb.endswith("List"):
                body["documentIds"] = [1]
            response = await api.raw(name, json=body)
            assert response.status_code in (200, 400), (name, response.text)
