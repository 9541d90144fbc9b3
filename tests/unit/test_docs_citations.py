"""Every `docs/… §N` a comment, docstring or doc cites names a file of the repository and a section in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: `docs/protocols/bitrix24.md §5.7, §6` — a path, then one or more section numbers.
CITATION = re.compile(r"(docs/[\w/.-]+\.md)((?:,? ?§ ?[0-9A-Z][0-9A-Za-z.]*)*)")
SECTION = re.compile(r"§ ?([0-9A-Z][0-9A-Za-z.]*?)\.?(?=$|[^0-9A-Za-z.])")
HEADING = re.compile(r"^#+ +(?:§ ?)?([0-9A-Z][0-9A-Za-z.]*?)\.? ", re.M)


def _sources() -> list[Path]:
    roots = [REPO / "src", REPO / "tests", REPO / "bench", REPO / "docs"]
    found = [p for root in roots for p in root.rglob("*") if p.suffix in (".py", ".md", ".mako")]
    return [p for p in found if "fixtures" not in p.parts and "node_modules" not in p.parts] + [
        REPO / "README.md"
    ]


def _citations() -> list[tuple[str, str, str]]:
    out = []
    for path in _sources():
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            sections = SECTION.findall(match.group(2)) or [""]
            out += [(str(path.relative_to(REPO)), match.group(1), s) for s in sections]
    return out


def _headings(doc: Path) -> set[str]:
    return set(HEADING.findall(doc.read_text(encoding="utf-8")))


def test_the_code_cites_the_docs() -> None:
    assert len(_citations()) > 100  # the scan itself works: obmen cites its docs throughout


@pytest.mark.parametrize("doc", sorted({c[1] for c in _citations()}))
def test_every_cited_section_exists(doc: str) -> None:
    path = REPO / doc
    assert path.is_file(), f"{doc} is cited but does not exist"
    headings = _headings(path)
    missing = sorted({(where, s) for where, d, s in _citations() if d == doc and s and s not in headings})
    assert not missing, f"{doc} lacks the sections cited by: {missing[:10]}"
