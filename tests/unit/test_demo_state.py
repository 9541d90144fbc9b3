"""The demo starts from a clean state folder and never wipes one it did not make."""

from __future__ import annotations

from pathlib import Path

import pytest

from obmen.demo.stack import _fresh


def test_a_previous_demo_folder_is_cleared(tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text("{}", encoding="utf-8")
    (tmp_path / "obmen.db").write_bytes(b"old links to sandboxes that are gone")
    _fresh(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    precious = tmp_path / "obmen.db"
    precious.write_bytes(b"production")
    with pytest.raises(FileExistsError, match="not made by a demo"):
        _fresh(tmp_path)
    assert precious.read_bytes() == b"production"
