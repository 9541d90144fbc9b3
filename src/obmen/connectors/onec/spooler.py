"""A 1C file read into a spool of JSON lines, and a helper process that reads the big ones.

`spool` reads and maps a whole file before anything of it is stored (a malformed file imports nothing,
`connectors/onec/backend.py`); `SpoolReader` gives the lines back a chunk at a time. Reading is pure
Python work: in a thread it shares the interpreter's lock with the event loop, where the worker
reconciles what the last file changed, and the two slowed each other down by half
(docs/architecture.md §2.5). `Spooler` reads a file of `min_bytes` or more in a helper process of its
own instead, started at the first such file and kept; the mirror's answers about the items it already
holds cross the pipe in batches. A file smaller than that, a second file while the helper is busy, and a
helper that died are read in the calling thread, with the same result.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Collection, Sequence
from dataclasses import fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from obmen.connectors.commerceml import KnownMany, RunContext, read
from obmen.connectors.commerceml.names import Vocabulary
from obmen.connectors.mirrored.records import FileReport, Record, records
from obmen.errors import ObmenError, PermanentError, ProtocolError
from obmen.model.fields import canonical_json, canonical_loads

__all__ = ["MIN_BYTES", "SpoolReader", "Spooler", "spool", "spool_line", "spooled"]

log = logging.getLogger(__name__)

#: Files from this size on are read in the helper process: below it, starting one (a fresh interpreter,
#: about half a second the first time) costs more than it saves.
MIN_BYTES = 4 << 20
_CHUNK = 500
#: An unchanged record costs a sighting only: this many of them weigh as much as one parsed record.
_UNCHANGED_WEIGHT = 0.25


def spool(
    path: Path,
    context: RunContext,
    report: FileReport,
    known: KnownMany | None = None,
    vocabulary: Vocabulary | None = None,
) -> Path:
    """Read and map a whole file into a spool of JSON lines; any malformed input raises `ProtocolError`."""
    out_path = path.with_name(path.name + ".records")
    try:
        with out_path.open("w", encoding="utf-8") as out:
            for record in records(read(path, context, known_many=known), context, report, vocabulary):
                out.write(spool_line(record))
    except ObmenError:
        out_path.unlink(missing_ok=True)
        raise
    except (ValueError, ArithmeticError, KeyError) as exc:
        out_path.unlink(missing_ok=True)
        raise ProtocolError(f"{path.name}: {exc}") from exc
    except Exception as exc:
        # A bug of ours must still reach 1C as a `failure` line (not a 500 it cannot read), loudly here.
        out_path.unlink(missing_ok=True)
        log.exception("1C exchange: reading %s failed", path.name)
        raise PermanentError(f"{path.name}: obmen could not read the file ({type(exc).__name__})") from exc
    return out_path


#: Marks a spool line of an unchanged record: `<mark>entity<tab>id<tab>digest`, no JSON either way.
_SIGHTED = "="
_PLAIN = str.maketrans("", "", "\t\n\r")


def spool_line(record: Record) -> str:
    """A record as one spool line; an unchanged one (most of a re-import) in a cheap form of its own."""
    x, digest = record.external_id, record.digest
    if record.unchanged and digest and f"{x}{digest}".translate(_PLAIN) == f"{x}{digest}":
        return f"{_SIGHTED}{record.entity}\t{x}\t{digest}\n"
    return canonical_json([record.entity, x, record.fields, digest, record.unchanged]) + "\n"


def spooled(line: str) -> Record:
    """The record a spool line holds (`spool_line`)."""
    if line.startswith(_SIGHTED):
        entity, external_id, digest = line[1:].rstrip("\n").split("\t")
        return Record(entity, external_id, {}, digest, unchanged=True)
    entity, external_id, fields_, digest, unchanged = canonical_loads(line)
    return Record(entity, external_id, fields_, digest, unchanged)


class SpoolReader:
    """Reads a spool back a chunk at a time and deletes it when closed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: IO[str] | None = None

    def next_chunk(self) -> list[Record]:
        """The next few hundred records; an empty list at the end."""
        if self._lines is None:
            self._lines = self.path.open(encoding="utf-8")
        chunk: list[Record] = []
        weight = 0.0
        for line in self._lines:
            record = spooled(line)
            chunk.append(record)
            weight += _UNCHANGED_WEIGHT if record.unchanged else 1.0
            # A document's counterparties come before its order: never split them across chunks.
            if weight >= _CHUNK and record.entity != "counterparty":
                break
        return chunk

    def close(self) -> None:
        """Forget the spool."""
        if self._lines is not None:
            self._lines.close()
        self.path.unlink(missing_ok=True)


class Spooler:
    """`spool` for catalog files, the big ones in a helper process (the module's docstring)."""

    def __init__(self, min_bytes: int = MIN_BYTES) -> None:
        self.min_bytes = min_bytes
        self._busy = threading.Lock()
        self._pipe: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        #: Whether the current helper has read a file yet: one that dies before it did cannot start here.
        self._proven = False
        self._disabled = False

    def run(self, path: Path, context: RunContext, report: FileReport, known: KnownMany | None) -> Path:
        """`spool(path, context, report, known)`; call it from a thread, never on the event loop."""
        done = self.run_in_helper(path, context, report, known)
        return spool(path, context, report, known) if done is None else done

    def run_in_helper(
        self, path: Path, context: RunContext, report: FileReport, known: KnownMany | None
    ) -> Path | None:
        """`run`, but only in the helper: None (nothing read) when the helper cannot take this file now."""
        if self._disabled or path.stat().st_size < self.min_bytes or not self._busy.acquire(blocking=False):
            return None
        try:
            try:
                pipe = self._started()
                pipe.send((str(path), context, known is not None))
                out = self._conversation(pipe, context, report, known)
            except (EOFError, OSError, subprocess.SubprocessError) as exc:
                # The helper died (killed, out of memory): this file is read here, the next starts one;
                # one that could not even start (no interpreter to run it) is not tried again.
                self._disabled = not self._proven
                log.warning("1C exchange: the reading process failed (%s); %s is read here", exc, path.name)
                self.close()
                return None
            self._proven = True
            return out
        finally:
            self._busy.release()

    def _conversation(
        self, pipe: Connection, context: RunContext, report: FileReport, known: KnownMany | None
    ) -> Path:
        while True:
            kind, payload = pipe.recv()
            if kind == "known":
                try:
                    held = list(known(payload)) if known is not None else []
                except BaseException:
                    self.close()  # it waits for this answer: a fresh helper reads the next file
                    raise
                pipe.send(held)
            elif kind == "error":
                self._proven = True  # it read the file, and the file was wrong
                error, message = payload
                raise (ProtocolError if error == "protocol" else PermanentError)(message)
            else:
                done, read_context, read_report = payload
                _update(context, read_context)
                _update(report, read_report)
                return Path(done)

    def _started(self) -> Connection:
        if self._pipe is not None and self._process is not None and self._process.poll() is None:
            return self._pipe
        self.close()
        ours, theirs = socket.socketpair()
        try:
            # A fresh interpreter running this module, not `multiprocessing`: its `spawn` runs the
            # embedding program's main module again, and a fork of a process that runs threads
            # (SQLite's, the loop's) may inherit a held lock.
            self._process = subprocess.Popen(  # noqa: S603 (this interpreter, this module: nothing given)
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._pipe, self._proven = Connection(ours.detach()), False
        return self._pipe

    def close(self) -> None:
        """Stop the helper, if one runs."""
        pipe, process, self._pipe, self._process = self._pipe, self._process, None, None
        if pipe is not None:
            pipe.close()  # the helper reads the end of its pipe and returns
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _update(target: Any, source: Any) -> None:
    for f in fields(target):
        setattr(target, f.name, getattr(source, f.name))


def _serve(pipe: Connection) -> None:
    """The helper: read the files it is sent, one at a time, until its pipe closes."""
    while True:
        try:
            path, context, asks = pipe.recv()
        except (EOFError, OSError):
            return
        report = FileReport()

        def known(batch: Sequence[tuple[str, str, str]]) -> Collection[tuple[str, str]]:
            pipe.send(("known", list(batch)))
            return {(kind, ident) for kind, ident in pipe.recv()}

        try:
            out = spool(Path(path), context, report, known if asks else None)
        except ObmenError as exc:
            # Nothing here retries (no call goes out): what `spool` raises is a protocol or permanent error.
            pipe.send(("error", ("protocol" if isinstance(exc, ProtocolError) else "permanent", str(exc))))
        else:
            pipe.send(("done", (str(out), context, report)))


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
