"""Normalisation used for matching: phones, e-mails, ИНН/КПП."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen.model.normalize import normalize_email, normalize_name, normalize_phone, validate_inn, validate_kpp


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 (912) 345-67-89", "+79123456789"),
        ("+7 912 345 67 89", "+79123456789"),
        ("9123456789", "+79123456789"),
        ("+49 30 1234567", "+49301234567"),
        ("12-34", None),
        ("звоните", None),
    ],
)
def test_phones_normalise_to_one_form(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


@given(st.text(alphabet="0123456789 +()-", max_size=20))
def test_phone_normalisation_is_idempotent(raw: str) -> None:
    once = normalize_phone(raw)
    assert once is None or normalize_phone(once) == once


def test_emails_and_names() -> None:
    assert normalize_email("  Ivan.Petrov@Example.RU ") == "ivan.petrov@example.ru"
    assert normalize_email("not an email") is None
    assert normalize_name("  ООО   «Ромашка» ") == "ООО «Ромашка»"


@pytest.mark.parametrize(
    ("inn", "valid"),
    [
        ("7707083893", True),
        ("7707083894", False),
        ("500100732259", True),
        ("500100732258", False),
        ("77070838", False),
        ("77O7083893", False),
    ],
)
def test_inn_check_digits(inn: str, valid: bool) -> None:
    assert validate_inn(inn) is valid


def test_kpp_shape() -> None:
    assert validate_kpp("773601001")
    assert validate_kpp("7736AB001")
    assert not validate_kpp("77360100")
