"""Registry of the remote corpora: which files to fetch, how to check them, and where each
split's sentences are inside them.

Every file is pinned by URL and checksum. URLs are https (statmt.org redirects http there, as
sacreBLEU's definitions use it). The WMT checksums are the published ones: sha256 (with size) of
the training archives from tensorflow_datasets (``url_checksums/wmt16_translate.txt``,
``wmt14_translate.txt``), md5 of the test-set tarballs from sacrebleu's dataset definitions
(``sacrebleu/dataset/__init__.py``, the ``wmt13``, ``wmt14/full``, ``wmt16`` and ``wmt16/dev``
entries). Member paths follow the same sources. Multi30k publishes no checksums: its files are
pinned by a commit of its repository, and their sha256 and sizes were computed from that commit.

A corpus has the splits ``train`` and ``valid`` and one or more test sets: every further split,
the first of them the primary one (the verdict's); it may also offer named sets of monolingual
text in its source language (``mono``: Multi30k's task-2 captions), which ``data.mono`` names
to have the teacher translate them for the students' KD data (wd.data.mono).
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """One sub-corpus of a split: its sentences in one remote file, or two.

    ``format`` text: ``members`` are (source, target) files with one sentence per line;
    sgm: (source, reference) WMT SGML files, the text of each ``<seg>`` is a sentence;
    tmx: ``members`` is one TMX file holding both languages (empty member: the file itself).
    With ``target_file``, the target member is in that file, the source member in ``file``.
    """

    file: str
    format: str
    members: tuple[str, ...]
    target_file: str | None = None

    @property
    def files(self) -> tuple[str, ...]:
        """The ids of the files the part reads: ``file``, then ``target_file`` if any."""
        return (self.file,) if self.target_file is None else (self.file, self.target_file)


@dataclass(frozen=True)
class Corpus:
    name: str
    src_lang: str
    tgt_lang: str
    files: tuple[RemoteFile, ...]
    splits: dict[str, tuple[Part, ...]]   # train, valid, test sets; parts concatenated in order
    # Named sets of monolingual source-language files (one sentence a line each); their files
    # are among ``files``.
    mono: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def file(self, file_id: str) -> RemoteFile:
        return next(f for f in self.files if f.id == file_id)

    def split_files(self, split: str) -> list[RemoteFile]:
        """The files a split needs, each once, in order."""
        ids = dict.fromkeys(file_id for part in self.splits[split] for file_id in part.files)
        return [self.file(file_id) for file_id in ids]

    @property
    def testsets(self) -> list[str]:
        """The test sets, the primary one first."""
        return [split for split in self.splits if split not in ("train", "valid")]


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


MULTI30K_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
# Multi30k task 1 (Elliott et al., 2016): the raw captions of github.com/multi30k/dataset
# (data/task1/raw/), one gzip-compressed file per split and language, the same images described
# in each language, so every two languages make a pair. file stem -> {language: (sha256, bytes)}.
MULTI30K_FILES = {
    "train": {"en": ("d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f", 568929),
              "de": ("726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6", 637044),
              "fr": ("622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c", 604242),
              "cs": ("a65adb8b32e3bc664f21ecba7a6e7f6950fd1f405e135f7c312faabdb6255077", 593827)},
    "val": {"en": ("14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28", 21650),
            "de": ("f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a", 24681),
            "fr": ("ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9", 23001),
            "cs": ("b63226e05c4bd5dd6a42897d74b86a1b9d2c31498252c572b1ea7f7996927fcc", 22096)},
    "test_2016_flickr": {
        "en": ("611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9", 21077),
        "de": ("9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8", 22890),
        "fr": ("6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90", 22310),
        "cs": ("200a4a74cc9560f051924abb9803be008d1908d77f747e9141aeb86dfd2797f1", 22572)},
    "test_2017_flickr": {
        "en": ("76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074", 19138),
        "de": ("a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee", 21471),
        "fr": ("3ba671ceb2299f3304ffafefea7a833d08632fbaf0ba18546f8a2ec2391af496", 20434)},
    "test_2017_mscoco": {
        "en": ("aab300bfb4427697987e02cd0aacd44bfe8aa50456231b6474c08038bbed2b58", 8844),
        "de": ("799e4854c25d601cb6cb6be29eabe5667734c61ace2f495e03e429031a0bc338", 10230),
        "fr": ("754f3072ba9f124569ba5258b32730fc1d214bbf8e0c6dfb2b74401676220db0", 9751)},
}
MULTI30K_LANGS = ("en", "de", "fr", "cs")


def _multi30k_file(stem: str, lang: str) -> RemoteFile:
    sha256, size = MULTI30K_FILES[stem][lang]
    url = (f"https://raw.githubusercontent.com/multi30k/dataset/{MULTI30K_COMMIT}/data/task1/"
           f"raw/{stem}.{lang}.gz")
    return RemoteFile(f"multi30k_{stem}_{lang}", url, f"sha256:{sha256}", "gz", ".gz", size)


# Multi30k task 2: five independent descriptions of every training image in English and in
# German (data/task2/raw/train.<n>.<lang>.gz, 29,000 lines each), written apart from task 1's
# translations; the monolingual set "task2" of a corpus whose source is one of the two. (Task 2's
# validation and test files describe the test images: never offered.) n -> lang -> (sha256,
# bytes), computed from the pinned commit.
MULTI30K_TASK2 = {
    1: {"en": ("a0e057f07a9733199c0d755d77f6d583dc6f40a3180734b1130a216e2fdf3a3b", 867789),
        "de": ("0002241b52aba5160c08d644ea0d64a9bf46a2dfffcf619c9e3cdaa55b357004", 456594)},
    2: {"en": ("d79dd70a9eafb2d1fe40151621278c4ae69b3c148c5052a53d7c7a41bf3ba023", 666845),
        "de": ("ac7c29258b90aec0b64d677c5bfc831fc402e6296d0aa9cc7a3433ddbff85c37", 496731)},
    3: {"en": ("86e16fdcc699bcb6bca0f87c3cf1051f7de5ee3674dd588cedc5200194282749", 555423),
        "de": ("ec5e6508813814aa31311b34e26e24f903dd7701f8d0668313259b7f975d7aa0", 536471)},
    4: {"en": ("3771b84e010ad6197806d2a1188cb07c12149e3e0d178dd5966dee5763733686", 465845),
        "de": ("bcee8ac6eb47d8a7dc8cff47d9a0fbd80b4363cfda22021bacd297f9604221a4", 598066)},
    5: {"en": ("73988689307fe836994eae59735dc840c15da9775455fa76e6ed22606a042a91", 375613),
        "de": ("dccb0ca6ff25e0b1f0d385f59fb809184e0db89622d88371725e3ec46d43bfc0", 658679)},
}


def _multi30k_task2_file(n: int, lang: str) -> RemoteFile:
    sha256, size = MULTI30K_TASK2[n][lang]
    url = (f"https://raw.githubusercontent.com/multi30k/dataset/{MULTI30K_COMMIT}/data/task2/"
           f"raw/train.{n}.{lang}.gz")
    return RemoteFile(f"multi30k_task2_train_{n}_{lang}", url, f"sha256:{sha256}", "gz", ".gz",
                      size)


def multi30k(src_lang: str, tgt_lang: str) -> Corpus:
    """Multi30k between two of its languages: 29,000 training pairs, 1,014 validation pairs and
    the test sets that have both languages (test_2016_flickr first; En-Cs has only that one);
    from English or German, task 2's captions in the source language as the monolingual set
    ``task2``."""
    stems = [stem for stem, langs in MULTI30K_FILES.items() if {src_lang, tgt_lang} <= set(langs)]
    splits = {"valid" if stem == "val" else stem: (
        Part(f"multi30k_{stem}_{src_lang}", "text", ("", ""), f"multi30k_{stem}_{tgt_lang}"),)
        for stem in stems}
    files = tuple(_multi30k_file(stem, lang) for stem in stems for lang in (src_lang, tgt_lang))
    task2 = tuple(_multi30k_task2_file(n, src_lang) for n in MULTI30K_TASK2
                  if src_lang in MULTI30K_TASK2[n])
    return Corpus(f"multi30k_{src_lang}_{tgt_lang}", src_lang, tgt_lang, files + task2, splits,
                  {"task2": tuple(f.id for f in task2)} if task2 else {})


# data.source -> (src_lang, tgt_lang) -> corpus.
CORPORA: dict[str, dict[tuple[str, str], Corpus]] = {
    "wmt16_en_ro": {("en", "ro"): WMT16_EN_RO},
    "wmt14_en_de": {("en", "de"): WMT14_EN_DE},
    "multi30k": {(src, tgt): multi30k(src, tgt)
                 for src in MULTI30K_LANGS for tgt in MULTI30K_LANGS if src != tgt},
}


def registry_corpus(source: str, src_lang: str, tgt_lang: str) -> Corpus:
    """The corpus ``source`` between the two languages; a ValueError names the pairs it has."""
    pairs = CORPORA[source]
    if (src_lang, tgt_lang) not in pairs:
        have = ", ".join(f"{src}->{tgt}" for src, tgt in pairs)
        raise ValueError(f"{source} has {have}; got {src_lang}->{tgt_lang}")
    return pairs[src_lang, tgt_lang]
