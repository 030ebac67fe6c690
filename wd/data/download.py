"""Downloads that survive flaky networks and never leave a file that looks finished but is not.

Bytes go to ``<dest>.part``; a retry (exponential back-off) or a rerun resumes it with an HTTP
Range request. The checksum is verified before the file gets its final name; a mismatch deletes
it. Offline, the error names the URL and the config keys that supply the file by hand
(``data.manual.<id>``, checksum-verified too) or from a mirror (``data.mirror``).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from wd.data.corpora import RemoteFile
from wd.io import atomic_path, durable_replace, missing_file
from wd.progress import Progress

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")


@dataclass(frozen=True)
class DownloadSettings:
    """``retries``: attempts after the first; ``timeout``: seconds an attempt may wait for data;
    ``backoff``: seconds before the first retry, doubled before each further one."""

    retries: int = 5
    timeout: float = 60.0
    backoff: float = 2.0


class DownloadError(RuntimeError):
    """A file could not be fetched or failed its checksum; the message says what to do."""


def file_checksum(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return f"{algorithm}:{digest.hexdigest()}"


def source_url(remote: RemoteFile, mirror: str | None) -> str:
    """The pinned URL, or ``<mirror>/<file name>`` when a mirror is configured."""
    return f"{mirror.rstrip('/')}/{remote.name}" if mirror else remote.url


def _by_hand(remote: RemoteFile) -> str:
    return (f"To supply it by hand, fetch {remote.url} elsewhere and set "
            f"data.manual.{remote.id}: /path/to/{remote.name} in the config (its checksum is "
            f"still verified), or set data.mirror to a server holding {remote.name}.")


def fetch(remote: RemoteFile, dest: Path, mirror: str | None = None, manual: Path | None = None,
          settings: DownloadSettings = DownloadSettings()) -> None:
    """Put the verified file at ``dest``: from ``manual`` (a local copy) if given, else download
    it from the pinned URL or the mirror."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if manual is not None:
        _copy_manual(remote, Path(manual), dest)
        return
    url = source_url(remote, mirror)
    part = dest.with_name(dest.name + ".part")
    if remote.size is not None and part.exists() and part.stat().st_size > remote.size:
        part.unlink()
    error: Exception | None = None
    for attempt in range(settings.retries + 1):
        if attempt:
            delay = settings.backoff * 2 ** (attempt - 1)
            log.warning("%s: attempt %d failed (%s); retrying in %.1f s", url, attempt, error,
                        delay)
            time.sleep(delay)
        try:
            _transfer(url, part, settings.timeout)
            break
        except urllib.error.HTTPError as err:
            if 400 <= err.code < 500 and err.code not in (408, 429):
                raise DownloadError(f"could not download {url}: HTTP {err.code} {err.reason}. "
                                    f"{_by_hand(remote)}") from None
            error = err
        except (OSError, http.client.HTTPException) as err:
            error = err
    else:
        raise DownloadError(f"could not download {url} ({settings.retries + 1} attempts, last: "
                            f"{error}). {_by_hand(remote)}")
    _verify(part, remote, f"download of {url}", delete=True)
    durable_replace(part, dest)
    log.info("%s: %d bytes, %s verified", dest, dest.stat().st_size, remote.checksum)


def _transfer(url: str, part: Path, timeout: float) -> None:
    """One attempt: append the missing bytes to ``part`` (all of them if the server ignores the
    Range request); a body cut short raises ConnectionError, keeping what arrived."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "wd-pipeline"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the checksum decides
            return
        raise
    with response:
        start = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if response.status != 206 or start is None or int(start.group(1)) != offset:
            offset = 0
        if offset:
            log.info("%s: resuming at byte %d", url, offset)
        expected = response.headers.get("Content-Length")
        total = None if expected is None else (offset + int(expected)) // 1000
        progress = Progress(log, url, total, "kB", done=offset // 1000)
        received = 0
        with open(part, "ab" if offset else "wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                progress.update((offset + received) // 1000)
    if expected is not None and received < int(expected):
        raise ConnectionError(f"connection closed after {received} of {expected} bytes")


def _verify(path: Path, remote: RemoteFile, what: str, delete: bool) -> None:
    algorithm = remote.checksum.split(":", 1)[0]
    actual = file_checksum(path, algorithm)
    if actual != remote.checksum:
        if delete:
            path.unlink()
        raise DownloadError(f"checksum mismatch for {what}: expected {remote.checksum}, got "
                            f"{actual}" + ("; the file was deleted" if delete else ""))


def _copy_manual(remote: RemoteFile, manual: Path, dest: Path) -> None:
    key = f"data.manual.{remote.id}"
    if not manual.is_file():
        raise DownloadError(f"{key}: {missing_file(manual)}")
    _verify(manual, remote, f"{key} ({manual})", delete=False)
    with atomic_path(dest) as tmp:
        shutil.copyfile(manual, tmp)
    log.info("%s: copied from %s, %s verified", dest, manual, remote.checksum)
