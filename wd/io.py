"""Files as every step writes and reads them.

Every output is written under a temporary name beside it and renamed when complete
(:func:`atomic_path`), so a crash never leaves a half file that looks finished; the data is
flushed to disk before the rename and the directory entry after it, so that a machine crash (not
only a killed process) cannot leave an empty file under the finished name either. Text is UTF-8
with ``\n`` line endings, one sentence per line.
"""

from __future__ import annotations

import csv
import errno
import glob
import gzip
import json
import logging
import os
import secrets
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)


class InputError(ValueError):
    """Input the user can mend: the message is one line naming the file (and line) and what is
    wrong, so a traceback adds nothing."""


class NoSpaceError(OSError):
    """A write that ran out of disk space or quota; the message names the file and what to
    do."""


def _out_of_space(err: BaseException | None) -> bool:
    """Whether ``err`` or an error it was raised from is a full disk or quota (some writers,
    torch.save among them, report another error on top of it)."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        err = err.__cause__ or err.__context__
    return False


@contextmanager
def naming_full_disk(path: Path) -> Iterator[None]:
    """Turn running out of disk space while writing ``path`` into one clear error."""
    try:
        yield
    except Exception as err:
        if not _out_of_space(err):
            raise
        free = shutil.disk_usage(Path(path).parent).free / 2**20
        raise NoSpaceError(f"no space left on device writing {path} ({free:.0f} MiB free "
                           "there): free some space (or point results_dir elsewhere) and "
                           "rerun; finished outputs and checkpoints are kept") from None


def missing_file(path: str | Path) -> str:
    """Why ``path`` is not a readable file: a directory, or nothing there."""
    return (f"{path} is a directory, not a file" if Path(path).is_dir()
            else f"file not found: {path}")


class OutputExists(FileExistsError):
    """An output directory that holds files already; the message names it and what to do."""


def umask() -> int:
    """The process's file-creation mask (read by setting it, then setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync(path: Path) -> None:
    """Flush ``path`` to disk: a file's data, or a directory's entries (a rename in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path) -> None:
    """Give ``tmp`` (and everything in it) the permissions the umask gives new files: some
    writers (``tempfile``, safetensors) create them private whatever the umask, which would hide
    a package from the other users of a shared machine. Then flush it all to disk."""
    mask = umask()
    items = [*(p for p in tmp.rglob("*")), tmp] if tmp.is_dir() else [tmp]
    for item in items:
        item.chmod((0o777 if item.is_dir() else 0o666) & ~mask)
        if item.is_file() or item is tmp:
            fsync(item)


def durable_replace(tmp: Path, path: Path) -> None:
    """Rename the finished ``tmp`` (a file, or a directory and every file in it) to ``path``:
    its data on disk before the rename, the rename itself after."""
    _publish(tmp)
    os.replace(tmp, path)
    fsync(path.parent)


def draft_name(path: Path, suffix: str = "") -> Path:
    """A temporary name beside ``path``, unique to this process and call (two runs writing the
    same output never share a draft); it ends in ``.tmp`` (then ``suffix``), so that a draft
    left by a killed job is recognisable."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp{suffix}")


@contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends,
    removed if it raises. ``suffix`` ends the temporary name, for writers that pick the format
    from it (matplotlib)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = draft_name(path, suffix)
    try:
        with naming_full_disk(path):
            yield tmp
            durable_replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _inside(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def check_output_dir(path: Path, force: bool = False, source: Path | None = None) -> Path:
    """``path`` resolved, if a writer may fill it: never the working directory or a directory
    above it, never ``source`` (what the writer reads) or a directory inside it, never an
    existing file, and an existing non-empty directory only with ``force``."""
    path, cwd = Path(path).resolve(), Path.cwd().resolve()
    if _inside(cwd, path):
        raise OutputExists(f"{path} is the working directory or above it: name a new directory "
                           "to write to")
    if source is not None and _inside(path, Path(source).resolve()):
        raise OutputExists(f"{path} is the model being exported or inside it: name another "
                           "directory")
    if path.exists() and not path.is_dir():
        raise OutputExists(f"{path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise OutputExists(f"{path} exists and is not empty: name a new directory, or give "
                           "--force to replace the files this writes there (and only those)")
    return path


def dir_drafts(path: Path) -> list[Path]:
    """The temporary directories :func:`atomic_dir` makes beside ``path`` (``.<name>.*.tmp``)."""
    path = Path(path)
    return sorted(p for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp") if p.is_dir())


@contextmanager
def atomic_dir(path: Path, force: bool = False, source: Path | None = None,
               stale_drafts: bool = False) -> Iterator[Path]:
    """:func:`atomic_path` for a directory: a fresh temporary directory beside ``path`` to fill,
    removed if the block raises. When the block ends it becomes ``path`` if that is new or
    empty; with ``force``, its files replace their namesakes in an existing ``path``, and every
    other file there is kept. Nothing outside the temporary directory is ever deleted; where
    ``path`` may not be written at all, see :func:`check_output_dir`. ``stale_drafts``: the
    caller is the only writer of ``path`` (a pipeline job under Snakemake's lock), so the
    temporary directories of earlier attempts (a job killed with -9 leaves its draft, a full
    copy of the model) are removed first."""
    path = check_output_dir(path, force, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    if stale_drafts:
        for draft in dir_drafts(path):
            shutil.rmtree(draft)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        with naming_full_disk(path):
            yield tmp
            if path.is_dir() and any(path.iterdir()):
                _merge(tmp, path)
            else:
                durable_replace(tmp, path)  # a rename over an empty directory replaces it
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _merge(tmp: Path, path: Path) -> None:
    """Move each file of ``tmp`` over its namesake in ``path``, then remove ``tmp``."""
    _publish(tmp)
    for item in sorted(p for p in tmp.rglob("*") if p.is_file()):
        target = path / item.relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(item, target)
        fsync(target.parent)
    shutil.rmtree(tmp)


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write lines atomically; return how many were written."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            if "\n" in line:
                raise ValueError(f"{path}: line {count + 1} contains a newline")
            handle.write(line + "\n")
            count += 1
    return count


def write_csv(path: Path, rows: Sequence[dict], fields: Sequence[str] | None = None) -> None:
    """Write dict rows as CSV with a header (``fields``, else the first row's keys), atomically:
    a benchmark stopped half-way leaves its previous table, not half of a new one."""
    if not rows and fields is None:
        raise ValueError(f"{path}: no rows to write and no header given")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields or rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")


def decode_lines(handle: BinaryIO, where: str, errors: str = "strict") -> Iterator[str]:
    """The lines of a binary stream (a file, standard input) decoded one at a time: UTF-8, no
    newline, no trailing CR, no byte-order mark (U+FEFF) at a line's start (an editor's mark at
    the start of a file, or of each file concatenated: it is not text, and would become a token
    of the first sentence; how many were removed is logged).

    ``errors="strict"``: a line that is not UTF-8 is an error naming ``where`` and the line.
    ``errors="surrogateescape"``: its bad bytes become lone surrogates, so that cleaning can count
    and drop such lines (``wd.data.clean``) instead of failing the whole corpus. Either way, text
    in UTF-16 or UTF-32 (a byte-order mark of theirs, or NUL bytes, in the first line) is an
    error naming ``where``: its lines would not be the text's lines.
    """
    marks = 0
    for number, raw in enumerate(handle, 1):
        if number == 1:
            _check_not_utf16(raw, where)
        try:
            line = raw.removesuffix(b"\n").decode("utf-8", errors)
        except UnicodeDecodeError as err:
            raise InputError(f"{where}:{number}: not valid UTF-8 ({err.reason})") from None
        if line.startswith(BOM):
            line, marks = line[1:], marks + 1
        yield line.rstrip("\r")
    if marks:
        log.warning("%s: %d UTF-8 byte-order mark(s) (U+FEFF) removed from the start of lines",
                    where, marks)


BOM = "\ufeff"
WIDE_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
             b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def _check_not_utf16(first_line: bytes, where: str) -> None:
    """A first line in UTF-16 or UTF-32 (by its byte-order mark, or its NUL bytes) is an error
    naming ``where`` and the conversion to make."""
    encoding = next((name for mark, name in WIDE_BOMS.items() if first_line.startswith(mark)),
                    "UTF-16 or UTF-32" if b"\x00" in first_line else None)
    if encoding:
        raise InputError(f"{where}: {encoding}, not UTF-8: convert it "
                         f"(iconv -f {encoding.split()[0]} -t UTF-8)")


def split_lines(raw: bytes, where: str, errors: str = "strict") -> list[str]:
    """The lines of newline-separated text held in memory (see :func:`decode_lines`)."""
    return list(decode_lines(BytesIO(raw), where, errors))


GZIP_MAGIC = b"\x1f\x8b"


def open_bytes(path: Path) -> BinaryIO:
    """A binary handle on a plain file, or on the content of a gzip file named ``.gz``; a name
    that says otherwise than the content (a plain ``.gz``, gzip without ``.gz``) is an error
    naming the file."""
    path = Path(path)
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == GZIP_MAGIC
    if gzipped != (path.suffix == ".gz"):
        raise InputError(f"{path}: gzip-compressed but not named .gz: rename it to "
                         f"{path.name}.gz" if gzipped else
                         f"{path}: named .gz but not gzip-compressed: rename it without .gz")
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


@contextmanager
def naming_damaged_gzip(path: Path) -> Iterator[None]:
    """Turn a truncated or corrupt gzip stream into an error naming the file."""
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise InputError(f"{path}: damaged gzip file ({err})") from None


def read_bytes(path: Path) -> bytes:
    """The content of a plain or gzip file (see :func:`open_bytes`)."""
    with open_bytes(path) as handle, naming_damaged_gzip(path):
        return handle.read()


def read_lines(path: Path, errors: str = "strict") -> list[str]:
    """Lines of a plain or gzip (``.gz``) text file; see ``split_lines`` for ``errors``."""
    return split_lines(read_bytes(path), str(path), errors)


def check_aligned(*streams: tuple[str, Sequence], unit: str = "lines") -> int:
    """The common length of ``(name, items)`` streams that must be parallel (a corpus' sides, a
    test set's references); different lengths are an error naming the first stream and the
    first that differs."""
    (first, items), *others = streams
    for name, other in others:
        if len(other) != len(items):
            raise InputError(f"misaligned: {first} has {len(items)} {unit}, "
                             f"{name} has {len(other)}")
    return len(items)
