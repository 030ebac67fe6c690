"""Registry of the remote corpora the paper uses: which files to fetch, how to check them, and
where each split's sentences are inside them.

Every file is pinned by URL and checksum. URLs are https (statmt.org redirects http there, as
sacreBLEU's definitions use it). The checksums are the published ones, not computed here:
sha256 (with size) of the training archives from tensorflow_datasets
(``url_checksums/wmt16_translate.txt``, ``wmt14_translate.txt``), md5 of the test-set tarballs
from sacrebleu's dataset definitions (``sacrebleu/dataset/__init__.py``, the ``wmt13``,
``wmt14/full``, ``wmt16`` and ``wmt16/dev`` entries). Member paths follow the same sources.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One file to download. ``id`` names it in config keys (``data.manual.<id>``) and, with the
    archive suffix, on disk and on a mirror (``name``)."""

    id: str
    url: str
    checksum: str             # "sha256:<hex>" or "md5:<hex>"
    archive: str              # tgz | zip | gz (one gzip-compressed file) | plain
    suffix: str               # file-name ending, e.g. ".tgz", ".tmx.gz"
    size: int | None = None   # bytes, where the source publishes it

    @property
    def name(self) -> str:
        return self.id + self.suffix


@dataclass(frozen=True)
class Part:
    """One sub-corpus of a split: its sentences in one remote file.

    ``format`` text: ``members`` are (source, target) files with one sentence per line;
    sgm: (source, reference) WMT SGML files, the text of each ``<seg>`` is a sentence;
    tmx: ``members`` is one TMX file holding both languages (empty member: the file itself).
    """

    file: str
    format: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Corpus:
    name: str
    src_lang: str
    tgt_lang: str
    files: tuple[RemoteFile, ...]
    splits: dict[str, tuple[Part, ...]]   # train, valid, test; parts are concatenated in order

    def file(self, file_id: str) -> RemoteFile:
        return next(f for f in self.files if f.id == file_id)

    def split_files(self, split: str) -> list[RemoteFile]:
        """The files a split needs, each once, in order."""
        ids = dict.fromkeys(part.file for part in self.splits[split])
        return [self.file(file_id) for file_id in ids]


WMT16_EN_RO = Corpus(
    name="wmt16_en_ro", src_lang="en", tgt_lang="ro",
    files=(
        RemoteFile("europarl_v8",
                   "https://data.statmt.org/wmt16/translation-task/training-parallel-ep-v8.tgz",
                   "sha256:8917bd3bef3bc894c8519ca1f8a4c7c330aad08a1263655a9d99ee13d532e3c7",
                   "tgz", ".tgz", 225018324),
        # OPUS's object store: the TMX release of SETIMES2. TFDS still lists the older form
        # http://opus.nlpl.eu/download.php?f=SETIMES/v2/tmx/en-ro.tmx.gz, which redirected here
        # and is reported gone since 2024; the bytes (TFDS's checksum and size) are the same.
        RemoteFile("setimes2_en_ro",
                   "https://object.pouta.csc.fi/OPUS-SETIMES/v2/tmx/en-ro.tmx.gz",
                   "sha256:56bfaa2a8c8bdfccb7b50cc926067e2291347d807004e81faab8762ddbf26302",
                   "gz", ".tmx.gz", 23458958),
        RemoteFile("wmt16_dev", "https://data.statmt.org/wmt16/translation-task/dev.tgz",
                   "md5:4a3dc2760bb077f4308cce96b06e6af6", "tgz", ".tgz"),
        RemoteFile("wmt16_test", "https://data.statmt.org/wmt16/translation-task/test.tgz",
                   "md5:3d809cd0c2c86adb2c67034d15c4e446", "tgz", ".tgz"),
    ),
    splits={
        "train": (
            Part("europarl_v8", "text", ("training-parallel-ep-v8/europarl-v8.ro-en.en",
                                         "training-parallel-ep-v8/europarl-v8.ro-en.ro")),
            Part("setimes2_en_ro", "tmx", ("",)),
        ),
        "valid": (Part("wmt16_dev", "sgm", ("dev/newsdev2016-enro-src.en.sgm",
                                            "dev/newsdev2016-enro-ref.ro.sgm")),),
        "test": (Part("wmt16_test", "sgm", ("test/newstest2016-enro-src.en.sgm",
                                            "test/newstest2016-enro-ref.ro.sgm")),),
    },
)

WMT14_EN_DE = Corpus(
    name="wmt14_en_de", src_lang="en", tgt_lang="de",
    files=(
        RemoteFile("europarl_v7", "https://www.statmt.org/wmt13/training-parallel-europarl-v7.tgz",
                   "sha256:0224c7c710c8a063dfd893b0cc0830202d61f4c75c17eb8e31836103d27d96e7",
                   "tgz", ".tgz", 657632379),
        RemoteFile("commoncrawl", "https://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz",
                   "sha256:c7a74e2ea01ac6c920123108627e35278d4ccb5701e15428ffa34de86fa3a9e5",
                   "tgz", ".tgz", 918311367),
        RemoteFile("news_commentary_v9", "https://www.statmt.org/wmt14/training-parallel-nc-v9.tgz",
                   "sha256:cb8953f292298e6877ae433c98912b927cb0766b303f4540512ddd286c748485",
                   "tgz", ".tgz", 80418416),
        RemoteFile("wmt13_test", "https://statmt.org/wmt13/test.tgz",
                   "md5:48eca5d02f637af44e85186847141f67", "tgz", ".tgz"),
        # The full newstest2014 (3003 sentences), as Transformer-base papers report it.
        RemoteFile("wmt14_test_full", "https://statmt.org/wmt14/test-full.tgz",
                   "md5:a8cd784e006feb32ac6f3d9ec7eb389a", "tgz", ".tgz"),
    ),
    splits={
        "train": (
            Part("europarl_v7", "text", ("training/europarl-v7.de-en.en",
                                         "training/europarl-v7.de-en.de")),
            Part("commoncrawl", "text", ("commoncrawl.de-en.en", "commoncrawl.de-en.de")),
            Part("news_commentary_v9", "text", ("training/news-commentary-v9.de-en.en",
                                                "training/news-commentary-v9.de-en.de")),
        ),
        "valid": (Part("wmt13_test", "sgm", ("test/newstest2013-src.en.sgm",
                                             "test/newstest2013-src.de.sgm")),),
        "test": (Part("wmt14_test_full", "sgm", ("test-full/newstest2014-deen-src.en.sgm",
                                                 "test-full/newstest2014-deen-ref.de.sgm")),),
    },
)

CORPORA: dict[str, Corpus] = {c.name: c for c in (WMT16_EN_RO, WMT14_EN_DE)}
