"""Normalisation for matching (docs/architecture.md §2.4): phones, e-mails, ИНН/КПП, names, articles.

Mappings normalise values before they reach the engine, so that the same phone typed two ways is one
matching key and one field value, and an echo never looks like a change.
"""

from __future__ import annotations

import re

__all__ = [
    "normalize_article",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
    "validate_inn",
    "validate_kpp",
]

_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_phone(text: str) -> str | None:
    """`8 (912) 345-67-89`, `+7 912 345 67 89`, `9123456789` → `+79123456789`; None if not a number."""
    plus = text.strip().startswith("+")
    digits = _DIGITS.sub("", text)
    if len(digits) == 10 and digits[0] == "9" and not plus:
        digits = "7" + digits  # a Russian mobile number written without the country code
    elif len(digits) == 11 and digits[0] == "8" and not plus:
        digits = "7" + digits[1:]  # the domestic trunk prefix 8 stands for +7
    if not 10 <= len(digits) <= 15:
        return None
    return "+" + digits


def normalize_email(text: str) -> str | None:
    """Trimmed and lower-cased; None if it is not an e-mail address."""
    email = text.strip().lower()
    return email if _EMAIL.match(email) else None


def normalize_name(text: str) -> str:
    """Whitespace collapsed and trimmed."""
    return _SPACES.sub(" ", text).strip()


def normalize_article(text: str) -> str:
    """An article or barcode compared without case and surrounding spaces."""
    return _SPACES.sub("", text).upper()


def _checksum(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def validate_inn(inn: str) -> bool:
    """Whether `inn` is a valid ИНН: 10 digits (organisation) or 12 (person), check digits included."""
    if not inn.isdigit() or not inn.isascii():
        return False
    if len(inn) == 10:
        return _checksum(inn, (2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(inn[9])
    if len(inn) == 12:
        first = _checksum(inn, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
        second = _checksum(inn, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
        return first == int(inn[10]) and second == int(inn[11])
    return False


def validate_kpp(kpp: str) -> bool:
    """Whether `kpp` has the КПП shape: 4 digits, 2 digits or capital Latin letters, 3 digits."""
    return re.fullmatch(r"\d{4}[\dA-Z]{2}\d{3}", kpp) is not None
