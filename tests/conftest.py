"""Shared tiny shapes for fast model tests, toy training pairs and settings, one briefly trained
toy teacher, the default config with one value changed, and the one way tests run Snakemake."""
import copy
import csv
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
import yaml

from wd.settings import ModelConfig, TrainSettings

VOCAB = 50
# A results row, as much of it as a package's model card reads.
CARD_ROW = {"bleu": 12.345, "bleu_ci95_low": 11.0, "bleu_ci95_high": 13.5, "chrf": 40.0,
            "bleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0",
            "sents_per_sec": 50.0, "device": "cpu", "threads": 2, "beam": 2, "speedup": 1.5,
            "train_steps": 100}
REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
# The tests' Snakemake runs are local. Where SLURM's client is installed but no controller
# answers (CI's machine once tests/cluster/run_slurm_e2e.sh has stopped its daemons), the SLURM
# executor plugin asks `scontrol show config` when Snakemake starts and waits 9 s for an answer,
# in every Snakemake process; with an empty SLURM_CONF, scontrol fails at once.
os.environ.setdefault("SLURM_CONF", "/dev/null")


def snakemake_cmd(*args: str) -> list[str]:
    """Snakemake on the repository's Snakefile (``config.yaml`` first, ``args`` on top)."""
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]


def run_snakemake(*args: str) -> subprocess.CompletedProcess:
    """:func:`snakemake_cmd` run from the repository, its output captured."""
    return subprocess.run(snakemake_cmd(*args), cwd=REPO, capture_output=True, text=True)


# What an OPUS-MT MarianMT model has beyond our defaults (wd.settings.ModelConfig).
OPUS_MT_LIKE = {"activation": "swish", "positions": "marian", "output_bias": True}


def tiny(**over) -> ModelConfig:
    keys = dict(vocab_size=VOCAB, enc_layers=2, dec_layers=2, enc_dim=32, dec_dim=32, enc_ffn=64,
                dec_ffn=64, enc_heads=4, dec_heads=4, dropout=0.0)
    keys.update(over)
    return ModelConfig(**keys)


@pytest.fixture
def batch():
    """A padded source batch and a target-input batch with fixed contents."""
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, VOCAB, (4, 9), generator=g)
    src[1, 6:] = 0
    src[3, 4:] = 0
    tgt = torch.randint(4, VOCAB, (4, 7), generator=g)
    tgt[:, 0] = 2
    return src, tgt


def with_change(path: str, value) -> dict:
    """The default config with the value at dotted ``path`` (list indices as numbers) replaced."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[int(key) if key.isdigit() else key]
    node[last] = value
    return config


@pytest.fixture(scope="session")
def toy_bpe(tmp_path_factory):
    """A 50-piece sentencepiece model of a few English sentences."""
    from wd.data.bpe import train_bpe
    from wd.io import write_lines
    root = tmp_path_factory.mktemp("bpe")
    words = ["the cat sat on the mat", "a dog ran in the park", "birds sing in the morning"]
    write_lines(root / "text", words * 20)
    train_bpe([root / "text"], root / "spm.model", vocab_size=50, seed=1)
    return root / "spm.model"


def peaked(**over):
    """A tiny model with large random weights, so greedy outputs depend on the input."""
    from wd.model.transformer import Transformer
    torch.manual_seed(1)
    model = Transformer(tiny(**over)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0.0, 0.3)
    return model


def sources(n: int = 24) -> list[list[int]]:
    """Random token-id sentences of 2-9 tokens (ids 4-49: no special ids)."""
    g = torch.Generator().manual_seed(0)
    return [torch.randint(4, 50, (int(torch.randint(2, 10, (1,), generator=g)),),
                          generator=g).tolist() for _ in range(n)]


def binarized_pairs(sp, src: Path, tgt: Path, max_len: int | None = None):
    """The id pairs of two BPE piece files, as training jobs read them (memory-mapped)."""
    from wd.data.binary import PairCorpus, binarize
    for text in (src, tgt):
        binarize(sp, text, text.with_name(text.name + ".npy"))
    return PairCorpus([src.with_name(src.name + ".npy"), tgt.with_name(tgt.name + ".npy")],
                      max_len)


def toy_pairs(n: int, seed: int = 0) -> list:
    """``n`` id pairs whose target is the source reversed (ids 4-49)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        src = [rng.randrange(4, 50) for _ in range(rng.randrange(2, 9))]
        pairs.append((src, list(reversed(src))))
    return pairs


def settings(**over) -> TrainSettings:
    """Train settings of a few updates for toy pairs, ``over`` changed."""
    keys = dict(steps=6, max_tokens=60, lr=1e-3, warmup=2, save_every=3, valid_every=3,
                average_last=2, seed=7)
    keys.update(over)
    return TrainSettings(**keys)


TEACHER_SETTINGS = TrainSettings(steps=120, max_tokens=800, lr=3e-3, warmup=10, save_every=120,
                                 valid_every=20, average_last=1, seed=0)


class ToyTeacher(NamedTuple):
    model: torch.nn.Module
    cfg: ModelConfig
    path: Path          # its model checkpoint
    bpe: Path           # its sentencepiece model
    valid: list         # the validation pairs (ids)
    log: list[dict]     # its train_log.csv rows
    source: Path        # 70 BPE lines of its training sources, to translate
    train: list[Path]   # its binarised training sides (source, target)


@pytest.fixture(scope="session")
def toy_teacher(tmp_path_factory) -> ToyTeacher:
    """A tiny pre-norm teacher trained 120 updates on 600 toy pairs (TEACHER_SETTINGS), once
    for the whole test session; tests read it and never change it."""
    from wd.data.bpe import encode_file, load_bpe, train_bpe
    from wd.data.toy import generate_toy_corpus
    from wd.model.checkpoint import save_model
    from wd.model.transformer import Transformer
    from wd.train.trainer import Trainer
    work = tmp_path_factory.mktemp("teacher")
    generate_toy_corpus(work, seed=5, sizes={"valid": 60, "train": 600})
    train_bpe([work / "train.src", work / "train.tgt"], work / "spm.model", 200, seed=5)
    sp = load_bpe(work / "spm.model")
    for split in ("train", "valid"):
        for side in ("src", "tgt"):
            encode_file(sp, work / f"{split}.{side}", work / f"bpe.{split}.{side}")
    train, valid = (binarized_pairs(sp, work / f"bpe.{s}.src", work / f"bpe.{s}.tgt", 64)
                    for s in ("train", "valid"))
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=sp.get_piece_size(), enc_layers=2, dec_layers=2, enc_dim=48,
                      dec_dim=48, enc_ffn=96, dec_ffn=96, enc_heads=4, dec_heads=4, dropout=0.0,
                      pre_norm=True)
    model = Transformer(cfg)
    Trainer(model, train, valid, TEACHER_SETTINGS, work / "work", torch.device("cpu")).run()
    save_model(model, work / "model.pt", {})
    with open(work / "work" / "train_log.csv") as handle:
        log = list(csv.DictReader(handle))
    source = work / "source.src"
    source.write_text("".join(line + "\n" for line in
                              (work / "bpe.train.src").read_text().splitlines()[:70]))
    return ToyTeacher(model.eval(), cfg, work / "model.pt", work / "spm.model", valid, log,
                      source, [work / "bpe.train.src.npy", work / "bpe.train.tgt.npy"])
