"""The helper process that reads big 1C files (`connectors/onec/spooler.py`): the same spool, context and
report as reading in the thread; the mirror's answers cross the pipe; a malformed file, a helper that
died and a question the mirror could not answer each end as they would in the thread."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import pytest

from obmen.connectors.commerceml import RunContext
from obmen.connectors.mirrored.records import FileReport
from obmen.connectors.onec.spooler import Spooler, spool, spooled
from obmen.errors import ProtocolError, TransientError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "commerceml" / "ut11-demo-carono"
#: The classifier in a file of its own, then the catalog that names it only by `Ид`, then the offers.
FILES = ("classifier.xml", "import_wo_classifier.xml", "offers.xml")


@pytest.fixture
def spooler() -> Iterator[Spooler]:
    helper = Spooler(min_bytes=0)
    yield helper
    helper.close()


def _copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(FIXTURES / name, target)
    return target


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    path.unlink()
    return text.splitlines()


def _run(
    tmp_path: Path, read: object, known: object = None
) -> tuple[list[list[str]], RunContext, list[FileReport]]:
    context, out, reports = RunContext(), [], []
    for name in FILES:
        report = FileReport()
        out.append(_lines(read(_copy(tmp_path, name), context, report, known)))  # type: ignore[operator]
        reports.append(report)
    return out, context, reports


def test_the_helper_spools_what_the_thread_spools(tmp_path: Path, spooler: Spooler) -> None:
    here, here_context, here_reports = _run(tmp_path, spool)
    there, there_context, there_reports = _run(tmp_path, spooler.run)
    assert there == here
    assert all(there)  # every file gave records
    assert there_reports == here_reports
    assert there_context.classifier.revision == here_context.classifier.revision
    assert there_context.classifier.groups == here_context.classifier.groups
    assert there_context.files == here_context.files
    assert [Path(f).name for f in there_context.files] == list(FILES)
    assert spooler._process is not None
    assert spooler._process.poll() is None  # kept for the next run


def test_the_mirrors_answers_cross_the_pipe(tmp_path: Path, spooler: Spooler) -> None:
    asked: list[tuple[str, str, str]] = []

    def known(batch: Sequence[tuple[str, str, str]]) -> Collection[tuple[str, str]]:
        asked.extend(batch)
        return {(kind, ident) for kind, ident, _ in batch if kind == "offer"}

    there, _, _ = _run(tmp_path, spooler.run, known)
    offers = [spooled(line) for line in there[2]]
    assert {kind for kind, _, _ in asked} == {"product", "offer"}
    assert offers
    assert all(r.unchanged for r in offers if r.entity == "offer")
    assert not any(spooled(line).unchanged for line in there[1])  # the products were not held


def test_a_malformed_file_raises_as_in_the_thread_and_leaves_no_spool(
    tmp_path: Path, spooler: Spooler
) -> None:
    broken = tmp_path / "import.xml"
    broken.write_bytes((FIXTURES / "import_wo_classifier.xml").read_bytes()[:3000])
    with pytest.raises(ProtocolError) as here:
        spool(broken, RunContext(), FileReport())
    with pytest.raises(ProtocolError) as there:
        spooler.run(broken, RunContext(), FileReport(), None)
    assert str(there.value) == str(here.value)
    assert not list(tmp_path.glob("*.records"))
    # The helper reads the next file.
    assert _lines(spooler.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), None))


def test_a_helper_that_died_is_replaced_and_the_file_read_all_the_same(
    tmp_path: Path, spooler: Spooler
) -> None:
    expected = _lines(spool(_copy(tmp_path, "offers.xml"), RunContext(), FileReport()))
    assert _lines(spooler.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), None)) == expected
    first = spooler._process
    assert first is not None
    first.kill()
    first.wait()
    # Found dead before the file is sent: a new helper reads it.
    assert _lines(spooler.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), None)) == expected
    assert spooler._process is not first
    assert spooler._process is not None
    assert spooler._process.poll() is None


def test_a_question_the_mirror_could_not_answer_fails_the_file_and_the_next_one_reads(
    tmp_path: Path, spooler: Spooler
) -> None:
    def late(batch: Sequence[tuple[str, str, str]]) -> Collection[tuple[str, str]]:
        raise TransientError("the 1C mirror did not answer in time")

    with pytest.raises(TransientError):
        spooler.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), late)
    # The helper was waiting for that answer: it is replaced, and the next file is read whole.
    expected = _lines(spool(_copy(tmp_path, "offers.xml"), RunContext(), FileReport()))
    assert _lines(spooler.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), None)) == expected


def test_a_helper_that_cannot_start_leaves_every_file_to_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = Spooler(min_bytes=0)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    expected = _lines(spool(_copy(tmp_path, "offers.xml"), RunContext(), FileReport()))
    assert _lines(helper.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), None)) == expected
    assert _lines(helper.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), None)) == expected
    assert helper._process is None


def test_a_small_file_is_read_in_the_thread(tmp_path: Path) -> None:
    helper = Spooler()  # the default threshold: far above these files
    assert _lines(helper.run(_copy(tmp_path, "offers.xml"), RunContext(), FileReport(), None))
    assert helper._process is None
