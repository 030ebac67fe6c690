"""Parallel sentences out of a downloaded file: its archive members (tgz, zip, gzip, plain) in
their format (one sentence per line, WMT SGML, TMX).

Lines are decoded with ``surrogateescape``: bytes that are not UTF-8 survive as lone surrogates,
so that training-data cleaning counts and drops them; preparation rejects them elsewhere.
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
import tarfile
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Sequence
from pathlib import Path

from wd.data.corpora import Part, RemoteFile
from wd.io import check_aligned, split_lines

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_SEG = re.compile(r"<seg.*?>(.*)</seg>.*?")


def read_members(path: Path, archive: str, members: Sequence[str]) -> dict[str, bytes]:
    """Contents of ``members`` of an archive (``""`` is the file itself for gz and plain)."""
    path = Path(path)
    if archive == "tgz":
        wanted, found = set(members), {}
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if name in wanted and info.isfile():
                    found[name] = tar.extractfile(info).read()
    elif archive == "zip":
        with zipfile.ZipFile(path) as zipped:
            names = set(zipped.namelist())
            found = {m: zipped.read(m) for m in members if m in names}
    elif archive in ("gz", "plain"):
        if tuple(members) != ("",):
            raise ValueError(f"{path}: a {archive} file has no members, got {list(members)}")
        found = {"": gzip.decompress(path.read_bytes()) if archive == "gz" else path.read_bytes()}
    else:
        raise ValueError(f"{path}: unknown archive kind {archive!r}")
    missing = [m for m in members if m not in found]
    if missing:
        raise ValueError(f"{path}: archive has no member {missing[0]!r}")
    return found


def copy_members(path: Path, archive: str, members: dict[str, Path]) -> None:
    """Copy the bytes of archive members (member -> file to write; ``""`` is the file itself
    for gz and plain) as they are read, the archive read once: a corpus of gigabytes passes
    through a small buffer."""
    path = Path(path)
    found = set()

    def copy(member: str, source) -> None:
        with open(members[member], "wb") as out:
            shutil.copyfileobj(source, out, 2**20)
        found.add(member)

    if archive == "tgz":
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if name in members and info.isfile():
                    copy(name, tar.extractfile(info))
    elif archive == "zip":
        with zipfile.ZipFile(path) as zipped:
            for member in set(members) & set(zipped.namelist()):
                with zipped.open(member) as source:
                    copy(member, source)
    elif archive in ("gz", "plain"):
        if set(members) != {""}:
            raise ValueError(f"{path}: a {archive} file has no members, got {list(members)}")
        with (gzip.open if archive == "gz" else open)(path, "rb") as source:
            copy("", source)
    else:
        raise ValueError(f"{path}: unknown archive kind {archive!r}")
    missing = [m for m in members if m not in found]
    if missing:
        raise ValueError(f"{path}: archive has no member {missing[0]!r}")


def extract_part(part: Part, files: Sequence[tuple[RemoteFile, Path]], src_lang: str,
                 tgt_lang: str, out_dir: Path) -> list[tuple[Path, str]]:
    """The part's source and target sentences as two line files in the new ``out_dir``, each
    with the name errors give it (``archive:member``): text members copied byte for byte, as
    they stream (the lines :func:`read_part` would give), the other formats through it."""
    out_dir.mkdir(parents=True)
    outputs = [out_dir / "src", out_dir / "tgt"]
    if part.format != "text":
        for lines, out in zip(read_part(part, files, src_lang, tgt_lang), outputs):
            out.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8",
                                                                           "surrogateescape"))
        return [(out, f"{files[0][1]} ({side})") for out, side in zip(outputs, ("source",
                                                                               "target"))]
    sources = [files[0], files[0]] if len(files) == 1 else list(files)
    for (remote, path), member, out in zip(sources, part.members, outputs, strict=True):
        copy_members(path, remote.archive, {member: out})
    return [(out, f"{path}:{member}" if member else str(path))
            for (_, path), member, out in zip(sources, part.members, outputs)]


def text_lines(data: bytes, where: str) -> list[str]:
    return split_lines(data, where, errors="surrogateescape")


def sgm_segments(data: bytes, where: str) -> list[str]:
    """The text of each ``<seg>`` line, whitespace collapsed, as sacrebleu reads WMT SGML (no
    entity unescaping, so that scores match the published sacreBLEU ones)."""
    return [" ".join(_SEG.sub(r"\1", line).split())
            for line in text_lines(data, where) if line.startswith("<seg ")]


def tmx_pairs(data: bytes, src_lang: str, tgt_lang: str, where: str) -> tuple[list[str], list[str]]:
    """One (source, target) pair per translation unit; a side missing from a unit is empty (and
    dropped by cleaning). Whitespace inside a segment, newlines included, is collapsed."""
    src, tgt = [], []
    try:
        for _, unit in ElementTree.iterparse(io.BytesIO(data)):
            if unit.tag != "tu":
                continue
            texts = {}
            for variant in unit.iter("tuv"):
                lang = (variant.get(_XML_LANG) or variant.get("lang") or "").lower().split("-")[0]
                seg = variant.find("seg")
                texts[lang] = " ".join("".join(seg.itertext()).split()) if seg is not None else ""
            src.append(texts.get(src_lang, ""))
            tgt.append(texts.get(tgt_lang, ""))
            unit.clear()
    except ElementTree.ParseError as err:
        raise ValueError(f"{where}: not a valid TMX file ({err})") from None
    return src, tgt


def read_part(part: Part, files: Sequence[tuple[RemoteFile, Path]], src_lang: str,
              tgt_lang: str) -> tuple[list[str], list[str]]:
    """Source and target sentences of one part from its downloaded ``files`` (registry entry,
    path; one per id in ``part.files``); sides of different lengths are an error naming both
    members and both counts."""
    if len(files) == 1:  # every member in one file: read it once
        (remote, path), = files
        data = read_members(path, remote.archive, part.members)
        blobs, paths = [data[member] for member in part.members], [path] * len(part.members)
    else:
        blobs = [read_members(path, remote.archive, (member,))[member]
                 for member, (remote, path) in zip(part.members, files, strict=True)]
        paths = [path for _, path in files]
    where = [f"{path}:{member}" if member else str(path)
             for member, path in zip(part.members, paths)]
    if part.format == "tmx":
        return tmx_pairs(blobs[0], src_lang, tgt_lang, where[0])
    if part.format not in ("sgm", "text"):
        raise ValueError(f"{where[0]}: unknown format {part.format!r}")
    reader = sgm_segments if part.format == "sgm" else text_lines
    src, tgt = (reader(blob, name) for blob, name in zip(blobs, where))
    check_aligned((where[0], src), (where[1], tgt), unit="sentences")
    return src, tgt
