"""The shape comparison the documentation replays rely on must itself catch what matters."""

from __future__ import annotations

from fidelity_shapes import shape_diff

DOC = {
    "result": {"ID": "410", "OPPORTUNITY": "1000000.00", "LEAD_ID": None, "UF_CRM_1": "x"},
    "time": {"start": 1.5, "date_start": "2024-08-30T14:29:05+02:00", "operating": 0},
}


def test_equal_shapes_with_other_values_pass() -> None:
    actual = {
        "result": {"ID": "7", "OPPORTUNITY": "5.00", "LEAD_ID": "3", "UF_CRM_1": "y"},
        "time": {"start": 2, "date_start": "2026-01-01T00:00:00+00:00", "operating_reset_at": 9},
    }
    assert shape_diff(DOC, actual) == []


def test_a_typed_value_where_the_docs_have_a_string_fails() -> None:
    actual = {
        "result": {"ID": 7, "OPPORTUNITY": "5.00", "LEAD_ID": None, "UF_CRM_1": "y"},
        "time": DOC["time"],
    }
    assert shape_diff(DOC, actual) == ["$.result.ID: expected string ('410'), got number (7)"]


def test_missing_and_unexpected_keys_are_both_reported() -> None:
    actual = {"result": {"ID": "7", "OPPORTUNITY": "5.00", "LEAD_ID": None, "EXTRA": 1}, "time": DOC["time"]}
    assert shape_diff(DOC, actual) == [
        "$.result.UF_CRM_1: missing (docs have string)",
        "$.result.EXTRA: unexpected key (number), not in the docs",
    ]


def test_ignored_paths_are_left_out_on_both_sides() -> None:
    actual = {"result": {"ID": "7", "OPPORTUNITY": "5.00", "LEAD_ID": None}, "time": DOC["time"]}
    assert shape_diff(DOC, actual, ignore=["result.UF_CRM_1"]) == []


def test_null_in_the_sandbox_where_the_docs_have_a_value_fails() -> None:
    actual = {
        "result": {"ID": "7", "OPPORTUNITY": None, "LEAD_ID": None, "UF_CRM_1": "y"},
        "time": DOC["time"],
    }
    assert shape_diff(DOC, actual) == [
        "$.result.OPPORTUNITY: expected string ('1000000.00'), got null (None)"
    ]


def test_nullable_paths_accept_null_but_still_check_the_type() -> None:
    doc = {"result": {"stores": [{"id": 1, "phone": "+1 495"}]}}
    nullable = ["result.stores[].phone"]
    assert shape_diff(doc, {"result": {"stores": [{"id": 2, "phone": None}]}}, nullable=nullable) == []
    assert shape_diff(doc, {"result": {"stores": [{"id": 2, "phone": 7}]}}, nullable=nullable) == [
        "$.result.stores[0].phone: expected string ('+1 495'), got number (7)"
    ]
    assert shape_diff(doc, {"result": {"stores": [{"id": 2, "phone": None}]}}) == [
        "$.result.stores[0].phone: expected string ('+1 495'), got null (None)"
    ]


def test_optional_keys_may_be_absent_on_either_side_but_keep_their_type() -> None:
    doc = {"result": {"ID": "1", "SECOND_NAME": "Ivanovich"}}
    optional = ["result.SECOND_NAME", "result.TIME_ZONE"]
    assert shape_diff(doc, {"result": {"ID": "2"}}, optional=optional) == []
    assert (
        shape_diff(doc, {"result": {"ID": "2", "SECOND_NAME": "", "TIME_ZONE": ""}}, optional=optional) == []
    )
    assert shape_diff(doc, {"result": {"ID": "2", "SECOND_NAME": 5}}, optional=optional) == [
        "$.result.SECOND_NAME: expected string ('Ivanovich'), got number (5)"
    ]
    assert shape_diff(doc, {"result": {"SECOND_NAME": "x"}}, optional=optional) == [
        "$.result.ID: missing (docs have string)"
    ]


def test_list_elements_match_any_documented_element_and_report_the_closest() -> None:
    doc = {"result": [{"ID": "1", "EXTRA": {"SEMANTICS": "process"}}, {"ID": "2"}]}
    assert shape_diff(doc, {"result": [{"ID": "5"}, {"ID": "6", "EXTRA": {"SEMANTICS": "x"}}]}) == []
    assert shape_diff(doc, {"result": [{"ID": 5}]}) == [
        "$.result[0].ID: expected string ('2'), got number (5)"
    ]
    assert shape_diff(doc, {"result": []}) == ["$.result: expected a non-empty array like the docs, got []"]


def test_php_empty_array_stands_for_an_empty_map_but_an_empty_object_does_not() -> None:
    doc = {"result_error": {"cmd": {"error": "x"}}, "result": {"item": {"id": 1}}}
    assert shape_diff(doc, {"result_error": [], "result": {"item": {"id": 2}}}) == []
    assert shape_diff(doc, {"result_error": {}, "result": {"item": {"id": 2}}}) == [
        "$.result_error: expected an object with keys ['cmd'], got {} (PHP answers [])"
    ]
    # Only maps documented as possibly empty may collapse to `[]`; an entity payload may not.
    assert shape_diff(doc, {"result_error": [], "result": []}) == [
        "$.result: expected object ({'item': {'id': 1}}), got array ([])"
    ]


def test_ignore_paths_reach_into_list_elements() -> None:
    doc = {"result": {"items": [{"id": 1, "ufCrm_5": 2}]}}
    actual = {"result": {"items": [{"id": 3}, {"id": 4}]}}
    assert shape_diff(doc, actual, ignore=["result.items[].ufCrm_5"]) == []
