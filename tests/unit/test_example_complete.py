"""`obmen.example.toml` names every settings key; README, example and `SECRET_KEYS` list the same secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from obmen.config.settings import SECRET_KEYS, Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "obmen.example.toml").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")


def _keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Dotted keys of the settings; a section's keys below it, a table (dict) as one key."""
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _keys(kind, f"{prefix}{name}.")
        else:
            yield prefix + name


def _sections(text: str) -> dict[str, list[str]]:
    """Each `[section]` (commented or not) → its lines, up to the next section."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        header = re.match(r"^#?\s*\[([\w.]+)\]", line)
        if header:
            current = header.group(1)
            out.setdefault(current, [])
            continue
        out[current].append(line)
    return out


def _mentioned(key: str, sections: dict[str, list[str]]) -> bool:
    section, _, name = key.rpartition(".")
    # A table key is either `name = {…}` in its section or a `[section.name…]` header of its own.
    if any(s == key or s.startswith(key + ".") for s in sections):
        return True
    pattern = re.compile(rf"^#?\s*{re.escape(name)}\s*=")
    return any(pattern.match(line) for line in sections.get(section, []))


def _secrets_named(text: str) -> set[str]:
    return set(re.findall(r"\b((?:bitrix24|site|onec|web|database)\.[a-z_]+)\b", text))


def test_every_settings_key_is_in_the_example() -> None:
    sections = _sections(EXAMPLE)
    missing = [k for k in _keys(Settings) if k not in SECRET_KEYS and not _mentioned(k, sections)]
    assert not missing, f"obmen.example.toml lacks {missing}"


def test_no_secret_is_set_in_the_example_and_its_list_is_complete() -> None:
    sections = _sections(EXAMPLE)
    for key in SECRET_KEYS:
        section, _, name = key.partition(".")
        assert not any(re.match(rf"^\s*{name}\s*=", line) for line in sections.get(section, [])), key
    header = EXAMPLE.split("\n\n", 1)[0]
    assert _secrets_named(header) >= SECRET_KEYS, "the example's secrets list differs from SECRET_KEYS"


def test_the_readme_lists_exactly_the_secrets() -> None:
    paragraph = README[README.index("**Secrets**") :].split("\n\n", 1)[0]
    assert _secrets_named(paragraph) == SECRET_KEYS


def test_the_readme_endpoints_block_is_valid_json_with_the_demo_keys() -> None:
    import json

    block = README.split("state/demo/endpoints.json")[1].split("```json", 1)[1].split("```", 1)[0]
    document = json.loads(block)
    assert {"obmen", "onec_exchange", "bitrix24", "site", "onec", "pids"} <= set(document)


def test_the_readme_says_no_tracker_numbers_or_machine_lore() -> None:
    assert not re.search(r"\bissue \d+", README, re.IGNORECASE)
    assert "this 2-core machine" not in README
    assert "here;" not in README


def test_the_readme_endpoints_block_shows_every_key_the_push_demo_writes() -> None:
    import json

    from obmen.demo.endpoints import Stack

    block = README.split("state/demo/endpoints.json")[1].split("```json", 1)[1].split("```", 1)[0]
    shown = json.loads(block)
    stack = Stack(
        *("http://o", "http://b", "http://s", "http://c", "1c", "p", "obmen", "p"),
        runtime=None,
        site_mode="rest",
        onec_mode="odata",
        site_rest="http://s/rest/1/code/",
        odata={"odata": "http://c/trade/odata/standard.odata", "odata_login": "obmen", "odata_password": "p"},
    )
    written = stack.endpoints()
    assert set(shown) == set(written)
    for part in ("obmen", "onec_exchange", "bitrix24", "site", "onec"):
        assert set(shown[part]) == set(written[part]), part
    assert Stack.from_endpoints(written) == stack
