"""`read_classifier`: a file's classifier without its items, as a skipped file lends it to the run.

See docs/protocols/commerceml.md §2.2 and §2.4.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from obmen.connectors.commerceml import RunContext, read
from obmen.connectors.commerceml import elements as E
from obmen.connectors.commerceml.reader import read_classifier

SMALL = Path(__file__).resolve().parents[2] / "fixtures" / "commerceml" / "ut11-small-2.07"


@pytest.mark.parametrize("name", ["import0_1.xml", "import0_1_with_nested_groups.xml", "offers0_1.xml"])
def test_the_classifier_alone_is_the_one_a_full_read_builds(name: str) -> None:
    whole, alone = RunContext(), RunContext()
    list(read(SMALL / name, whole))
    read_classifier(SMALL / name, alone)
    assert alone.classifier.revision == whole.classifier.revision
    assert alone.classifier.groups == whole.classifier.groups
    assert alone.classifier.properties == whole.classifier.properties
    assert alone.classifier.price_types == whole.classifier.price_types
    assert alone.classifier.warehouses == whole.classifier.warehouses


def test_no_product_or_offer_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(E, "product", lambda *a: built.append("product"))
    monkeypatch.setattr(E, "offer", lambda *a: built.append("offer"))
    for name in ("import0_1.xml", "offers0_1.xml"):
        read_classifier(SMALL / name, RunContext())
    assert built == []
