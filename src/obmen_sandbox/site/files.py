"""The exchange work directory of one session: confined paths, appended chunks and guarded unzipping.

Rules from docs/protocols/commerceml.md §1.4 and §6: `filename` may hold sub-directories but never leaves the
run directory; chunks of one file are appended; an archive is unpacked on the first `import` after
it was uploaded, refusing zip slip, links, and bombs (member count, total size, compression ratio).
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["Limits", "RunDir", "UnsafeInput"]

# Bitrix refuses script extensions in the exchange directory (BX16 catalog L190-215).
_SCRIPTS = {
    ".php",
    ".phtml",
    ".php3",
    ".php4",
    ".php5",
    ".phar",
    ".pl",
    ".py",
    ".cgi",
    ".asp",
    ".aspx",
    ".htaccess",
}


class UnsafeInput(ValueError):
    """A name, size or archive the site refuses; the message is the `failure` reason."""


@dataclass(frozen=True)
class Limits:
    """Caps of one exchange run."""

    run_bytes: int = 512 * 1024 * 1024
    members: int = 10_000
    unpacked_bytes: int = 1024 * 1024 * 1024
    ratio: int = 200


def safe_relative(name: str) -> PurePosixPath:
    """Validate an exchange `filename`; returns the relative path or raises UnsafeInput."""
    if not name or "\x00" in name:
        raise UnsafeInput("Пустое или недопустимое имя файла / empty or invalid file name")
    unified = name.replace("\\", "/")
    path = PurePosixPath(unified)
    if path.is_absolute() or (len(unified) > 1 and unified[1] == ":"):
        raise UnsafeInput(f"Абсолютный путь запрещен / absolute path refused: {name}")
    if any(part in ("..", "") for part in unified.split("/")) or path.name in (".", ""):
        raise UnsafeInput(f"Недопустимый путь / path traversal refused: {name}")
    if path.suffix.lower() in _SCRIPTS or path.name.lower() == ".htaccess":
        raise UnsafeInput(f"Недопустимое расширение файла / file type refused: {name}")
    return path


class RunDir:
    """The files one exchange session uploaded, under a directory nobody else writes to."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self.written = 0
        self.pending_zip: Path | None = None
        self.fresh: set[str] = set()

    def reset(self) -> None:
        """Empty the directory (`init` cleans the work dir, §1.3)."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.written, self.pending_zip, self.fresh = 0, None, set()

    def resolve(self, name: str) -> Path:
        """Absolute path for `name`, confined to the run directory."""
        target = (self.root / safe_relative(name)).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise UnsafeInput(f"Путь вне каталога обмена / path escapes the exchange directory: {name}")
        return target

    def append(self, name: str, chunk: bytes) -> Path:
        """Append a chunk; the first chunk of a name in this run starts the file anew (§1.4 pitfalls)."""
        target = self.resolve(name)
        if self.written + len(chunk) > self.limits.run_bytes:
            raise UnsafeInput("Превышен объем выгрузки / upload size limit exceeded")
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = "ab" if name in self.fresh else "wb"
        with target.open(mode) as fh:
            fh.write(chunk)
        self.fresh.add(name)
        self.written += len(chunk)
        if target.suffix.lower() == ".zip":
            self.pending_zip = target
        return target

    def forget(self, name: str) -> None:
        """After a file was imported, a new upload under the same name re-creates it."""
        self.fresh.discard(name)

    def unzip(self) -> int:
        """Unpack the pending archive into the run directory; returns the member count."""
        archive, self.pending_zip = self.pending_zip, None
        if archive is None:
            return 0
        try:
            with zipfile.ZipFile(archive) as zf:
                members = self._checked(zf)
                for info, target in members:
                    self._extract(zf, info, target)
        except zipfile.BadZipFile as exc:
            raise UnsafeInput(f"Архив поврежден / broken archive: {exc}") from None
        archive.unlink(missing_ok=True)
        return len(members)

    def _checked(self, zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, Path]]:
        infos = zf.infolist()
        if len(infos) > self.limits.members:
            raise UnsafeInput(f"Слишком много файлов в архиве / too many archive members: {len(infos)}")
        declared = sum(i.file_size for i in infos)
        if declared > self.limits.unpacked_bytes:
            raise UnsafeInput("Архив слишком велик после распаковки / archive unpacks too large")
        out = []
        for info in infos:
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeInput(f"Ссылка в архиве запрещена / link in archive refused: {info.filename}")
            if info.compress_size and info.file_size / info.compress_size > self.limits.ratio:
                raise UnsafeInput(f"Подозрительное сжатие / suspicious compression ratio: {info.filename}")
            if info.is_dir():
                continue
            out.append((info, self.resolve(info.filename)))
        return out

    def _extract(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
        # Count real bytes: the sizes in the header are the attacker's word.
        budget = self.limits.unpacked_bytes - self.written
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, target.open("wb") as dst:
            while block := src.read(1 << 16):
                budget -= len(block)
                if budget < 0:
                    raise UnsafeInput("Архив слишком велик после распаковки / archive unpacks too large")
                dst.write(block)
        self.written += target.stat().st_size
