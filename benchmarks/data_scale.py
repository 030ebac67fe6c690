"""Time and peak memory of each CPU data stage of the pipeline against the corpus size (#42).

For each size N, a WMT-like synthetic parallel corpus is generated (deterministic from --seed):
two made-up languages ("en", "de"), each a Zipf-distributed vocabulary of 100k random words
(frequent words short, some capitalised, hyphenated or numbers) with punctuation tokens among
the frequent ranks, so that Moses tokenisation has work (commas, brackets, quotes, "'s", final
punctuation glued to words). Sentences have a log-normal length (mean about 25 tokens, a tail
clipped at 300), the target's length that of the source times a log-normal ratio. Train has N
pairs, valid and test 1000 each; the bytes are assembled with numpy, not token by token.

Each stage then runs through the entry point that its workflow script calls, with the WMT14
config's settings (configs/wmt14_en_de.yaml: cleaning, BPE 40000, max_len 256 pieces, 8192
tokens a batch; kd.shards 1) and each in a fresh process ('spawn'), one job per side where the
workflow has one:

    prepare       wd.data.prepare.prepare_local (all splits, training data cleaned)
    tokenize.S    wd.data.text.tokenize_file, every split of side S, --threads workers
    train_bpe     wd.data.bpe.train_bpe on both tokenised training sides
    apply_bpe.S   wd.data.bpe.encode_file, every split of side S (one job, as the rule)
    binarize.S    wd.data.binary.binarize of side S's training pieces
    train_worker  a training job's data: wd.data.binary.PairCorpus mapped, one
                  wd.data.batching.epoch_batches call, the pairs of --batches batches read;
                  then the same in two workers at once (train_worker 1/2, 2/2)
    kd_split      wd.data.shards.split_file of the BPE training source into --kd-shards
    kd_join       wd.data.shards.join_files of those shards (stand-ins for decoded ones)

How it is measured. seconds: wall time of the stage's call in its process, its imports
included (a workflow job pays them too), not the interpreter's start. peak RSS: the stage
process's VmHWM (/proc/self/status) read at its end. Not ru_maxrss: Linux carries the
parent's high-water mark into a spawned child's ru_maxrss (exec records the old address
space's peak), so a child's ru_maxrss, and RUSAGE_CHILDREN deltas, can show the benchmark's own
memory instead of the stage's. workers: the largest peak RSS among the stage's worker processes
(tokenize's Moses pool, forked from the job, so its pages shared with the job count in both):
RUSAGE_CHILDREN's ru_maxrss read inside the job; the job's total is at most peak + threads x
workers. For the training workers, /proc/self/smaps_rollup at the end, with the corpus, the
epoch's batches and the maps alive (the two concurrent workers wait for each other first, so
both hold their maps when measured): private = Anonymous (heap, Python objects, numpy arrays:
memory no other process shares), data = private minus the private memory after the imports
(what the data costs the worker, torch's own excluded), map = the RSS of the mapped .npy
files (from /proc/self/smaps; page cache shared by every worker that maps them, so counted once
on a machine), file = every file-backed page (map, libraries). detail: training pairs kept by
cleaning, BPE pieces learnt, the training workers' pairs, batches and ids read. Two cores, another
job timing things, or a cold page cache all change the seconds: run it on an idle machine.

    python benchmarks/data_scale.py --sizes 100000 300000 1000000 4500000 --out data_scale.csv
    python benchmarks/data_scale.py --sizes 5000 20000 --out small.csv --work /tmp/ds --keep

Disk: about 1.5 kB a pair for all the stages' files of one size (some 7 GB at 4.5M pairs),
removed after each size unless --keep.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import resource
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wd.io import write_csv

LANGS = {"src": "en", "tgt": "de"}
EVAL_SPLITS = {"valid": 1000, "test": 1000}  # lines of each split besides train
SPLITS = ("train", *EVAL_SPLITS)
BPE_VOCAB = 40000   # configs/wmt14_en_de.yaml bpe.vocab_size
MAX_LEN = 256       # configs/wmt14_en_de.yaml data.max_len (BPE pieces a side)
MAX_TOKENS = 8192   # configs/wmt14_en_de.yaml train.max_tokens
MIB = 1024          # kB (what /proc and ru_maxrss count in) in a MiB

# The synthetic languages.
VOCAB_WORDS = 100_000
ALPHABETS = {"en": "etaoinshrdlcumwfgypbvkjxqz", "de": "enisratdhulcgmobwfkzpvüäößjyxq"}
WORD_LENGTH = {"en": 6, "de": 7}       # mean letters a word
CAPITALISED = {"en": 0.05, "de": 0.3}  # share of the vocabulary
RANK_NOISE = 4                         # letters: how loosely rank follows word length
ZIPF_EXPONENT = 1.07                   # token ranks: p(r) ~ 1 / (r + 2.7) ** ZIPF_EXPONENT
PUNCTUATION = {1: ",", 15: '"', 30: "'s", 40: "(", 41: ")", 60: ":", 90: "-", 150: ";",
               400: "%", 600: "$"}      # rank: token
GLUE_LEFT = frozenset({",", "'s", ")", ":", ";", "%", ".", "?", "!", "\n"})  # no space before
GLUE_RIGHT = frozenset({"(", "$"})     # no space after
ENDINGS = {".": 0.9, "?": 0.05, "!": 0.05}
LOG_MEAN, LOG_SIGMA = 3.05, 0.6        # log of tokens a sentence: mean about 25
MAX_TOKENS_A_SENTENCE = 300
TARGET_RATIO_SIGMA = 0.2               # log of the target/source length ratio
CHUNK_SENTENCES = 50_000               # generated and written at a time


@dataclass(frozen=True)
class Language:
    """A made-up language ready to be written fast: ``pool`` holds each token's UTF-8 bytes
    twice, after a space (form ``2 t``) and bare (form ``2 t + 1``), at ``starts``/``sizes``."""

    cdf: np.ndarray         # Zipf cumulative probabilities over the drawable tokens
    pool: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    glue_left: np.ndarray   # per token: written with no space before it
    glue_right: np.ndarray  # per token: the next token follows with no space
    endings: np.ndarray     # ids of the sentence-final punctuation
    newline: int


def made_up_words(lang: str, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct random words in rank order, a few capitalised, hyphenated or numbers;
    ranked by length plus noise, so that frequent words tend to be short (a token then has
    about 4.5 letters in "en", as in English text)."""
    alphabet = np.array([ord(letter) for letter in ALPHABETS[lang]], np.uint32)
    letter_p = 1 / np.arange(1, len(alphabet) + 1) ** 0.7
    words: dict[str, None] = {}
    while len(words) < count:
        lengths = 1 + rng.poisson(WORD_LENGTH[lang] - 1, count)
        letters = rng.choice(alphabet, lengths.sum(), p=letter_p / letter_p.sum())
        text = letters.astype("<u4").tobytes().decode("utf-32-le")
        ends = np.cumsum(lengths)
        batch = [text[a:b] for a, b in zip(ends - lengths, ends)]
        kind = rng.random(count)
        for i, word in enumerate(batch):
            if kind[i] < CAPITALISED[lang]:
                word = word.capitalize()
            elif kind[i] > 0.99:
                word = f"{rng.integers(1, 1000)},{rng.integers(0, 1000):03d}"
            elif kind[i] > 0.98:
                word = f"{word}-{batch[i - 1]}"
            words[word] = None
    words = list(words)[:count]
    rank = np.array([len(word) for word in words]) + rng.normal(0, RANK_NOISE, count)
    return [words[i] for i in np.argsort(rank, kind="stable")]


def make_language(lang: str, rng: np.random.Generator) -> Language:
    """A Zipf vocabulary of made-up words with punctuation among its frequent ranks."""
    tokens = made_up_words(lang, VOCAB_WORDS, rng)
    for rank, token in sorted(PUNCTUATION.items()):
        tokens.insert(rank, token)
    drawable = len(tokens)
    tokens += [*ENDINGS, "\n"]
    weights = 1 / (np.arange(drawable) + 2.7) ** ZIPF_EXPONENT
    forms = [form.encode() for token in tokens for form in (" " + token, token)]
    sizes = np.array([len(form) for form in forms], np.int64)
    return Language(cdf=np.cumsum(weights) / weights.sum(),
                    pool=np.frombuffer(b"".join(forms), np.uint8),
                    starts=np.cumsum(sizes) - sizes, sizes=sizes,
                    glue_left=np.array([t in GLUE_LEFT for t in tokens]),
                    glue_right=np.array([t in GLUE_RIGHT for t in tokens]),
                    endings=np.arange(drawable, drawable + len(ENDINGS)),
                    newline=len(tokens) - 1)


def gather(pool: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> bytes:
    """The byte slices ``pool[start:start + size]`` concatenated, in one vectorised take."""
    ends = np.cumsum(sizes)
    return pool[np.arange(ends[-1]) - np.repeat(ends - sizes - starts, sizes)].tobytes()


def sentences(language: Language, lengths: np.ndarray, rng: np.random.Generator) -> bytes:
    """Lines of ``lengths`` Zipf tokens each, then a final punctuation mark and a newline."""
    stops = np.cumsum(lengths + 2)  # each sentence's end, after its newline
    ids = np.empty(stops[-1], np.int64)
    body = np.ones(len(ids), bool)
    body[stops - 1] = body[stops - 2] = False
    ids[body] = np.minimum(np.searchsorted(language.cdf, rng.random(body.sum()), side="right"),
                           len(language.cdf) - 1)
    ending_p = np.array(list(ENDINGS.values()))
    ids[stops - 2] = rng.choice(language.endings, len(lengths), p=ending_p)
    ids[stops - 1] = language.newline
    bare = language.glue_left[ids] | np.roll(language.glue_right[ids], 1)
    bare[stops - lengths - 2] = True  # a line starts with no space
    forms = 2 * ids + bare
    return gather(language.pool, language.starts[forms], language.sizes[forms])


def pair_lengths(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of each source and target sentence (before the final punctuation)."""
    cap = MAX_TOKENS_A_SENTENCE - 1
    src = np.clip(np.rint(rng.lognormal(LOG_MEAN, LOG_SIGMA, count)), 1, cap)
    tgt = np.clip(np.rint(src * rng.lognormal(0, TARGET_RATIO_SIGMA, count)), 1, cap)
    return src.astype(np.int64), tgt.astype(np.int64)


def write_split(folder: Path, split: str, pairs: int, languages: dict[str, Language],
                rng: np.random.Generator) -> None:
    """``{split}.en`` and ``{split}.de`` of ``pairs`` lines, written a chunk at a time."""
    with (open(folder / f"{split}.{LANGS['src']}", "wb") as src,
          open(folder / f"{split}.{LANGS['tgt']}", "wb") as tgt):
        for start in range(0, pairs, CHUNK_SENTENCES):
            src_lengths, tgt_lengths = pair_lengths(min(CHUNK_SENTENCES, pairs - start), rng)
            src.write(sentences(languages["src"], src_lengths, rng))
            tgt.write(sentences(languages["tgt"], tgt_lengths, rng))


def generate_corpus(folder: Path, pairs: int, seed: int) -> None:
    """The synthetic corpus: ``train`` of ``pairs`` pairs, ``valid`` and ``test`` (same seed,
    same files)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    languages = {side: make_language(lang, rng) for side, lang in LANGS.items()}
    for split, count in {"train": pairs, **EVAL_SPLITS}.items():
        write_split(folder, split, count, languages, rng)


# The stages; each runs in its own process and imports what its workflow script imports.

def stage_prepare(work: Path) -> dict:
    """The copy_local job: every split read, checked, training pairs cleaned, written."""
    from wd.data.clean import CleanSettings
    from wd.data.prepare import prepare_local
    local = {split: {"src": str(work / "corpus" / f"{split}.{LANGS['src']}"),
                     "tgt": str(work / "corpus" / f"{split}.{LANGS['tgt']}")} for split in SPLITS}
    prepare_local(local, work / "raw", tuple(LANGS.values()), CleanSettings())
    return {}


def stage_tokenize(work: Path, side: str, threads: int) -> dict:
    """The tokenize jobs of one side (one a split in the workflow; valid and test are small)."""
    from wd.data.text import tokenize_file
    (work / "tok").mkdir(exist_ok=True)
    for split in SPLITS:
        tokenize_file(work / "raw" / f"{split}.{side}", work / "tok" / f"{split}.{side}",
                      LANGS[side], threads)
    return {}


def stage_train_bpe(work: Path, vocab_size: int, seed: int) -> dict:
    """The train_bpe job (hard_vocab_limit off: a small corpus gives fewer pieces)."""
    from wd.data.bpe import train_bpe
    train_bpe([work / "tok" / f"train.{side}" for side in LANGS], work / "bpe" / "spm.model",
              vocab_size, seed)
    return {}


def stage_apply_bpe(work: Path, side: str) -> dict:
    """The apply_bpe job of one side: every split, as the rule does."""
    from wd.data.bpe import encode_file, load_bpe
    sp = load_bpe(work / "bpe" / "spm.model")
    for split in SPLITS:
        encode_file(sp, work / "tok" / f"{split}.{side}", work / "bpe" / f"{split}.{side}", side)
    return {}


def stage_binarize(work: Path, side: str) -> dict:
    """The binarize job of one side's training pieces."""
    from wd.data.binary import binarize
    from wd.data.bpe import load_bpe
    (work / "bin").mkdir(exist_ok=True)
    binarize(load_bpe(work / "bpe" / "spm.model"), work / "bpe" / f"train.{side}",
             work / "bin" / f"train.{side}.npy")
    return {}


def stage_train_worker(work: Path, max_len: int, max_tokens: int, batches: int,
                       barrier=None) -> dict:
    """A training worker's data: the corpus mapped, an epoch ordered, ``batches`` batches'
    pairs read; its memory measured with all of that alive (after ``barrier``, if given)."""
    from wd.data.batching import epoch_batches
    from wd.data.binary import PairCorpus
    before = memory()
    corpus = PairCorpus([work / "bin" / f"train.{side}.npy" for side in LANGS], max_len)
    order = epoch_batches(corpus, max_tokens, seed=1, epoch=0)
    tokens = 0
    for batch in order[:batches]:  # a worker holds one batch's pairs at a time
        tokens += sum(len(s) + len(t) for s, t in [corpus[i] for i in batch])
    if barrier is not None:
        barrier.wait()
    after = memory()
    return {"private_mib": after.private, "data_mib": after.private - before.private,
            "map_mib": after.mapped, "file_mib": after.file,
            "detail": f"{len(corpus)} pairs, {len(order)} batches, {tokens} ids read"}


def stage_kd_split(work: Path, shards: int) -> dict:
    """The kd_split job: the BPE training source into contiguous shards."""
    from wd.data.shards import split_file
    (work / "kd").mkdir(exist_ok=True)
    split_file(work / "bpe" / "train.src", kd_shards(work, shards), work / "kd" / "counts.json")
    return {}


def stage_kd_join(work: Path, shards: int) -> dict:
    """The kd_join job, joining the source shards (the same size as decoded ones)."""
    from wd.data.shards import join_files
    join_files(kd_shards(work, shards), work / "kd" / "counts.json", work / "kd" / "train.joined")
    return {}


def kd_shards(work: Path, shards: int) -> list[Path]:
    return [work / "kd" / f"train.{i}.src" for i in range(shards)]


def kept_pairs(work: Path) -> str:
    """What cleaning kept (counted after the stage, untimed)."""
    with open(work / "raw" / "train.src", "rb") as handle:
        return f"{sum(1 for _ in handle)} pairs kept"


def bpe_pieces(work: Path) -> str:
    """The pieces BPE learnt: fewer than asked on a small corpus."""
    import sentencepiece as spm
    model = spm.SentencePieceProcessor(model_file=str(work / "bpe" / "spm.model"))
    return f"{model.get_piece_size()} pieces"


STAGES: dict[str, Callable[..., dict]] = {
    "prepare": stage_prepare, "tokenize": stage_tokenize, "train_bpe": stage_train_bpe,
    "apply_bpe": stage_apply_bpe, "binarize": stage_binarize,
    "train_worker": stage_train_worker, "kd_split": stage_kd_split, "kd_join": stage_kd_join}
DETAILS: dict[str, Callable[[Path], str]] = {"prepare": kept_pairs, "train_bpe": bpe_pieces}


# Measuring a process's memory.

@dataclass(frozen=True)
class Memory:
    private: float  # MiB: anonymous pages, this process's own
    file: float     # MiB: file-backed pages (page cache, shareable)
    mapped: float   # MiB: the part of ``file`` that maps .npy corpus files


def memory(suffix: str = ".npy") -> Memory:
    """This process's resident memory split as in :class:`Memory` (Linux /proc)."""
    rollup = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value, *_ = line.split()
        rollup[key.rstrip(":")] = int(value)
    mapped, in_corpus = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            key, *rest = line.split()
            if not key.endswith(":"):  # a mapping's header: address range ... path
                in_corpus = line.rstrip().endswith(suffix)
            elif key == "Rss:" and in_corpus:
                mapped += int(rest[0])
    return Memory(private=rollup["Anonymous"] / MIB,
                  file=(rollup["Rss"] - rollup["Anonymous"]) / MIB, mapped=mapped / MIB)


def peak_rss_mib() -> float:
    """This process's own peak resident memory (VmHWM), unlike ru_maxrss not inherited."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / MIB
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(stage: str, kwargs: dict, index: int, results: mp.Queue) -> None:
    """Run one stage in this (fresh) process and send back its time and memory."""
    try:
        start = time.perf_counter()
        extra = STAGES[stage](**kwargs)
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / MIB
        results.put((index, {"seconds": time.perf_counter() - start,
                             "peak_rss_mib": peak_rss_mib(), "workers_mib": workers or None,
                             **extra}))
    except BaseException:
        results.put((index, {"error": traceback.format_exc()}))


def run_together(stage: str, kwargs: dict, count: int = 1) -> list[dict]:
    """Run ``count`` processes of ``stage`` at once (waiting for each other before measuring,
    when more than one); each one's measurements."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    if count > 1:
        kwargs = {**kwargs, "barrier": ctx.Barrier(count)}
    procs = [ctx.Process(target=child, args=(stage, kwargs, i, results)) for i in range(count)]
    for proc in procs:
        proc.start()
    try:
        got = collect(stage, procs, results)
    except BaseException:
        for proc in procs:  # a failed process's partner would wait at the barrier for ever
            proc.terminate()
        raise
    finally:
        for proc in procs:
            proc.join()
    return [got[i] for i in range(count)]


def collect(stage: str, procs: list, results: mp.Queue) -> dict[int, dict]:
    """Each process's measurements by index; an error if one fails or dies (killed for
    memory, say)."""
    got: dict[int, dict] = {}
    while len(got) < len(procs):
        try:
            index, result = results.get(timeout=1)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise RuntimeError(f"{stage}: a process died (exit codes "
                                   f"{[p.exitcode for p in procs]}; out of memory?)") from None
            continue
        if "error" in result:
            raise RuntimeError(f"{stage} failed:\n{result['error']}")
        got[index] = result
    return got


# The benchmark.

def plan(work: Path, args: argparse.Namespace) -> list[tuple[str, str, dict, int]]:
    """(label, stage, arguments, processes at once) of each measurement, in pipeline order."""
    worker = {"work": work, "max_len": args.max_len, "max_tokens": args.max_tokens,
              "batches": args.batches}
    return [("prepare", "prepare", {"work": work}, 1),
            *[(f"tokenize.{side}", "tokenize", {"work": work, "side": side,
                                                "threads": args.threads}, 1) for side in LANGS],
            ("train_bpe", "train_bpe", {"work": work, "vocab_size": args.bpe_vocab,
                                        "seed": args.seed}, 1),
            *[(f"apply_bpe.{side}", "apply_bpe", {"work": work, "side": side}, 1)
              for side in LANGS],
            *[(f"binarize.{side}", "binarize", {"work": work, "side": side}, 1)
              for side in LANGS],
            ("train_worker", "train_worker", worker, 1),
            ("train_worker", "train_worker", worker, 2),
            ("kd_split", "kd_split", {"work": work, "shards": args.kd_shards}, 1),
            ("kd_join", "kd_join", {"work": work, "shards": args.kd_shards}, 1)]


def measure_size(pairs: int, work: Path, args: argparse.Namespace, cpu_model: str) -> list[dict]:
    """Generate the corpus of ``pairs`` pairs in ``work`` and measure every stage on it."""
    start = time.perf_counter()
    generate_corpus(work / "corpus", pairs, args.seed)
    print(f"{pairs} pairs generated in {time.perf_counter() - start:.1f}s", flush=True)
    rows = []
    for label, stage, kwargs, count in plan(work, args):
        for i, result in enumerate(run_together(stage, kwargs, count)):
            name = f"{label} {i + 1}/{count}" if count > 1 else label
            if stage in DETAILS:
                result["detail"] = DETAILS[stage](work)
            rows.append(row(pairs, name, result, args.threads, cpu_model))
            print(f"  {name:16} {result['seconds']:8.1f}s {result['peak_rss_mib']:8.0f} MiB  "
                  f"{result.get('detail', '')}", flush=True)
    return rows


COLUMNS = {"pairs": 9, "stage": 16, "seconds": 8, "peak_rss_mib": 9, "workers_mib": 8,
           "private_mib": 8, "data_mib": 8, "map_mib": 8, "file_mib": 8, "detail": 0}
LABELS = {"peak_rss_mib": "peak MiB", "workers_mib": "workers", "private_mib": "private",
          "data_mib": "data", "map_mib": "map", "file_mib": "file"}
LEFT = ("stage", "detail")  # left-aligned columns


def row(pairs: int, stage: str, result: dict, threads: int, cpu_model: str) -> dict:
    """One CSV row; memory in MiB, blank where not measured."""
    rounded = {k: round(v, 2 if k == "seconds" else 1) if isinstance(v, float) else v
               for k, v in result.items() if v is not None}
    return {**{k: rounded.get(k, "") for k in COLUMNS}, "pairs": pairs, "stage": stage,
            "threads": threads, "cpu": cpu_model}


def print_table(rows: list[dict]) -> None:
    header = {k: LABELS.get(k, k) for k in COLUMNS}
    for r in [header, *rows]:
        print(" ".join(f"{r[k]!s:{'<' if k in LEFT else '>'}{w}}" for k, w in COLUMNS.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[100_000, 300_000, 1_000_000, 4_500_000],
                        help="training pairs of each corpus (default: the sizes of #42)")
    parser.add_argument("--out", type=Path, help="CSV to write")
    parser.add_argument("--work", type=Path, help="where corpora go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep each size's files")
    parser.add_argument("--threads", type=int, default=2, help="tokenisation worker processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bpe-vocab", type=int, default=BPE_VOCAB)
    parser.add_argument("--max-len", type=int, default=MAX_LEN)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--batches", type=int, default=1000, help="batches a training worker reads")
    parser.add_argument("--kd-shards", type=int, default=1)
    args = parser.parse_args(argv)

    from wd.provenance import cpu  # torch: not imported by the stages' processes
    machine = cpu()
    print(f"CPU: {machine['model']}, {machine['logical_cores']} logical cores, avx512_bf16: "
          f"{'yes' if 'avx512_bf16' in machine['flags'] else 'no'}; --threads {args.threads}")
    root = args.work or Path(tempfile.mkdtemp(prefix="data_scale_"))
    rows = []
    try:
        for pairs in args.sizes:
            work = root / str(pairs)
            rows += measure_size(pairs, work, args, machine["model"])
            if not args.keep:
                shutil.rmtree(work)
    finally:
        if args.work is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print_table(rows)
    if args.out:
        write_csv(args.out, rows)


if __name__ == "__main__":
    main()
