"""A refusal and a lease's state are said in the dashboard's words (web/i18n.py) everywhere: the page, the
API's `text`, `obmen status`; no second copy of a sentence can drift from the page's."""

from __future__ import annotations

import pytest

from obmen.store.outages import Outage
from obmen.web.api import refusal_text
from obmen.web.i18n import Words, both

SINCE = 1767225600.0  # 2026-01-01 00:00:00 UTC


@pytest.mark.parametrize("system", ["onec", "site", "bitrix24"])
def test_the_refusal_text_is_the_pages_sentence_in_english_then_russian(system: str) -> None:
    text = refusal_text(Outage(system, "HTTP 401", SINCE, SINCE + 180))
    expected = [
        f"{w(system)} {w('refuses').lower()}: HTTP 401 {w('refusing_since')} 2026-01-01 00:00:00 UTC; "
        f"{w('next_probe')} 2026-01-01 00:03:00 UTC"
        for w in (Words("en"), Words("ru"))
    ]
    assert text == " / ".join(expected)


def test_obmen_status_names_lease_states_in_the_pages_words() -> None:
    from obmen.cli.status import lease_state

    for state in ("held", "stalled", "expired"):
        assert lease_state(state) == both(f"lease.{state}")
    assert lease_state("stalled").startswith("STALLED: holds its lease but is not moving / ЗАВИС")
