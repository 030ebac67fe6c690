"""A directory's manifest: the size and SHA-256 of every file written into it, as a wheel's
RECORD or a model hub's file list keep them, so that a reader can tell a file that changed (an
emptied vocabulary map, a weights file cut short by a full disk or a bad copy) from the one
that was written, instead of silently translating differently.

``manifest.json`` lists the files by their path inside the directory; the manifest itself is
not listed. Sizes are checked first (cheap), then digests.
"""

from __future__ import annotations

import json
from pathlib import Path

from wd.runtime import file_digest

MANIFEST = "manifest.json"


class ManifestError(ValueError):
    """A file that is not the one the manifest lists; the message names it."""


def write_manifest(directory: Path) -> dict:
    """Write ``manifest.json`` for every file now in ``directory`` (a draft being built: the
    manifest is written last); return what it holds."""
    directory = Path(directory)
    files = {path.relative_to(directory).as_posix(): {"size": path.stat().st_size,
                                                      "sha256": file_digest(path)}
             for path in sorted(directory.rglob("*")) if path.is_file() and path.name != MANIFEST}
    manifest = {"algorithm": "sha256", "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: Path) -> dict | None:
    """The manifest of ``directory``, or None when it has none."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not all({"size", "sha256"} <= set(entry) for entry in files.values()):
            raise KeyError("size or sha256")
    except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as err:
        raise ManifestError(f"{path}: not a readable manifest ({err!r})") from None
    return manifest


def verify(directory: Path, needed: list[str]) -> None:
    """Check that every file the manifest of ``directory`` lists is there, unchanged, and that
    it lists each of ``needed`` (the files a reader will use); the first file that fails is a
    :class:`ManifestError` naming it."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        raise ManifestError(f"{directory / MANIFEST}: missing")
    files = manifest["files"]
    for name in needed:
        if name not in files:
            raise ManifestError(f"{directory / name}: not written with the package (not in "
                                f"its {MANIFEST})")
    for name, entry in files.items():
        path = directory / name
        if not path.is_file():
            raise ManifestError(f"{path}: missing (the package was written with it)")
        size = path.stat().st_size
        if size != entry["size"]:
            raise ManifestError(f"{path}: changed since the package was written ({size:,} bytes, "
                                f"written with {entry['size']:,})")
        if file_digest(path) != entry["sha256"]:
            raise ManifestError(f"{path}: changed since the package was written (its SHA-256 "
                                "differs)")
