"""Files 1C uploads during an exchange run: safe names, chunked appends, and hardened unzipping.

Everything stays inside the run's directory (docs/protocols/commerceml.md §6): a `filename` is reduced to a
relative path without `..`, control characters or script extensions; archives are checked member by
member (zip slip, symlinks, member count, declared and *actual* size, compression ratio) before a
single byte is written, and extraction stops the moment the real output exceeds what was declared.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["Limits", "UploadRefused", "safe_path", "unzip"]

# Bitrix refuses script files in the exchange directory (docs/protocols/commerceml.md §1.4).
_FORBIDDEN_SUFFIXES = {
    ".php",
    ".phtml",
    ".phar",
    ".pl",
    ".py",
    ".cgi",
    ".sh",
    ".exe",
    ".htaccess",
    ".asp",
    ".jsp",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# 1C on Linux prefixes names with its own temp or web directories; Bitrix strips them (§1.4).
_KNOWN_PREFIXES = (("tmp",), ("upload", "1c", "webdata"))
_NAME_BYTES = 255
#: What a damaged archive raises while it is read: corrupt deflate data, a truncated member, a method
#: Python does not implement, a CRC mismatch.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError)


class UploadRefused(Exception):
    """An upload or an archive breaks a rule; the message is the `failure` line 1C will show."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one run may bring."""

    file_limit: int = 8 * 1024 * 1024
    run_bytes: int = 2 * 1024**3
    members: int = 200_000
    unpacked_bytes: int = 8 * 1024**3
    ratio: int = 200
    #: All runs of a process together, uploads and unpacked files (`onec.spool_quota`).
    spool_bytes: int = 4 * 1024**3


def safe_path(root: Path, filename: str, *, member: bool = False) -> Path:
    """Where `filename` goes inside `root`, or `UploadRefused` when it would leave it.

    An archive member with an absolute name is refused (docs/protocols/commerceml.md §6); a `filename` query
    parameter loses its leading slash instead, as Bitrix does for 1C on Linux (§1.4).
    """
    if not filename or _CONTROL.search(filename) or len(filename) > 512:
        raise UploadRefused("unsafe filename")
    if member and filename.replace("\\", "/").startswith("/"):
        raise UploadRefused(f"unsafe filename in archive: {filename}")
    parts = [p for p in PurePosixPath(filename.replace("\\", "/")).parts if p not in ("/", ".")]
    for prefix in _KNOWN_PREFIXES:
        if tuple(parts[: len(prefix)]) == prefix and len(parts) > len(prefix):
            parts = parts[len(prefix) :]
    if not parts or any(p == ".." or ":" in p for p in parts):
        raise UploadRefused(f"unsafe filename: {filename}")
    # File systems keep at most 255 bytes per name: a longer one would fail in the OS, not here.
    if any(len(p.encode("utf-8", errors="replace")) > _NAME_BYTES for p in parts):
        raise UploadRefused(f"Слишком длинное имя файла / file name too long: {filename[:60]}…")
    if PurePosixPath(parts[-1]).suffix.lower() in _FORBIDDEN_SUFFIXES or parts[-1].startswith(".ht"):
        raise UploadRefused(f"file type not allowed: {parts[-1]}")
    target = root.joinpath(*parts)
    resolved = target.resolve()
    if root.resolve() not in resolved.parents:
        raise UploadRefused(f"unsafe filename: {filename}")
    return target


def unzip(archive: Path, root: Path, limits: Limits) -> list[Path]:
    """Unpack `archive` into `root` after checking every member; returns the files written."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            targets = _check_members(members, root, limits)
            written = []
            for member, target in zip(members, targets, strict=True):
                _extract(zf, member, target)
                written.append(target)
            return written
    except UploadRefused:
        raise
    except _DAMAGED as exc:
        raise UploadRefused(f"Архив повреждён / damaged zip archive: {exc}") from exc


def _check_members(members: list[zipfile.ZipInfo], root: Path, limits: Limits) -> list[Path]:
    if len(members) > limits.members:
        raise UploadRefused(f"archive has {len(members)} files, more than {limits.members}")
    total = 0
    targets = []
    for member in members:
        if stat.S_ISLNK(member.external_attr >> 16):
            raise UploadRefused(f"archive member is a symbolic link: {member.filename}")
        if member.flag_bits & 0x1:
            raise UploadRefused(f"archive member is encrypted: {member.filename}")
        # Small files compress absurdly well too (an empty XML skeleton); judge the ratio above 1 MiB.
        if member.file_size > 1024 * 1024 and member.file_size > limits.ratio * max(member.compress_size, 1):
            raise UploadRefused(
                f"archive member {member.filename} is compressed suspiciously well (zip bomb?)"
            )
        total += member.file_size
        if total > limits.unpacked_bytes:
            raise UploadRefused(f"archive unpacks to more than {limits.unpacked_bytes} bytes")
        targets.append(safe_path(root, member.filename, member=True))
    return targets


def _extract(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    left = member.file_size
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with zf.open(member) as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(1024 * 1024):
            left -= len(chunk)
            # The header may lie about the size: stop at what it declared (docs/protocols/commerceml.md §6).
            if left < 0:
                raise UploadRefused(f"archive member {member.filename} is larger than it declares")
            dst.write(chunk)
