"""How the mapping page finds a row's value among a system's facts (web/mapping_facts.py)."""

from __future__ import annotations

from obmen.web.mapping_facts import lookup

WAREHOUSES = {"wh-1": "Основной склад", "wh-2": ""}


def test_a_row_is_found_by_what_the_connector_matches_it_by_and_shows_the_name() -> None:
    assert lookup("C2:WON", {"C2:WON": "Сделка успешна"}, "id") == "Сделка успешна"
    assert lookup("Сделка успешна", {"C2:WON": "Сделка успешна"}, "id") is None  # a stage is its id
    assert lookup("wh-1", WAREHOUSES, "either") == "Основной склад"
    assert lookup("Основной склад", WAREHOUSES, "either") == "Основной склад"
    assert lookup("wh-2", WAREHOUSES, "either") == "wh-2"  # no name: its id
    assert lookup("Розничная", {"pt-1": "Розничная"}, "name") == "Розничная"
    assert lookup("pt-1", {"pt-1": "Розничная"}, "name") is None  # 1C's price type goes by name
    assert lookup("Склад Б", WAREHOUSES, "either") is None


def test_facts_kept_as_a_list_of_names_still_read() -> None:
    assert lookup("Основной склад", ["Основной склад"], "either") == ""
    assert lookup("wh-1", ["Основной склад"], "either") is None
