"""The memory-mapped corpus: the ids of every line as the text gives them, pairs filtered and
concatenated as training reads them, and training on it identical to training on the same pairs
in memory, resumed mid-epoch bit-exactly, on every data source (bitext, KD data, both)."""
import random

import numpy as np
import pytest
import torch

from conftest import settings, tiny
from wd.data.batching import pair_lengths, pieces_to_ids
from wd.data.binary import PairCorpus, Side, binarize
from wd.data.bpe import load_bpe
from wd.io import InputError, read_lines, write_lines
from wd.model.transformer import Transformer
from wd.train.state import checkpoints
from wd.train.trainer import Trainer

LINES = ["▁the ▁cat ▁sat", "", "▁a ▁dog ▁ran ▁in ▁the ▁park", "▁never-seen-piece ▁the",
         "▁birds"]


def test_ids_are_those_of_the_text_line_by_line(toy_bpe, tmp_path):
    sp = load_bpe(toy_bpe)
    write_lines(tmp_path / "text", LINES)
    assert binarize(sp, tmp_path / "text", tmp_path / "text.npy") == len(LINES)
    side = Side(tmp_path / "text.npy")
    assert side.ids.dtype == np.uint16 and isinstance(side.ids, np.memmap)
    assert [side.sentence(i) for i in range(len(side))] == pieces_to_ids(sp, LINES)
    assert side.lengths.tolist() == [3, 0, 6, 2, 1]


def test_a_truncated_or_foreign_file_is_refused_naming_it(toy_bpe, tmp_path):
    write_lines(tmp_path / "text", LINES)
    binarize(load_bpe(toy_bpe), tmp_path / "text", tmp_path / "text.npy")
    ids = np.load(tmp_path / "text.npy")
    np.save(tmp_path / "cut.npy", ids[:-1])  # the last end mark lost
    np.save(tmp_path / "float.npy", ids.astype(np.float32))
    for name in ("cut.npy", "float.npy"):
        with pytest.raises(InputError, match=f"{tmp_path / name}: not a binarised corpus"):
            Side(tmp_path / name)


def write_source(sp, root, name: str, n: int, seed: int) -> list[str]:
    """``n`` random lines of pieces (some longer than the filter), binarised beside."""
    rng = random.Random(seed)
    pieces = [sp.id_to_piece(i) for i in range(4, sp.get_piece_size())]
    lines = [" ".join(rng.choices(pieces, k=rng.randint(1, 14))) for _ in range(n)]
    write_lines(root / name, lines)
    binarize(sp, root / name, root / f"{name}.npy")
    return lines


@pytest.fixture(scope="module")
def corpus(toy_bpe, tmp_path_factory):
    """Binarised bitext (src, tgt) and KD targets, and the same pairs in memory by source."""
    root, sp = tmp_path_factory.mktemp("binary"), load_bpe(toy_bpe)
    src, tgt, kd = (pieces_to_ids(sp, write_source(sp, root, name, 60, seed))
                    for seed, name in enumerate(("train.src", "train.tgt", "kd.tgt")))
    files = {"bitext": ["train.src", "train.tgt"], "kd": ["train.src", "kd.tgt"]}
    files["bitext+kd"] = files["bitext"] + files["kd"]
    pairs = {"bitext": list(zip(src, tgt)), "kd": list(zip(src, kd))}
    pairs["bitext+kd"] = pairs["bitext"] + pairs["kd"]
    return root, {k: [root / f"{name}.npy" for name in v] for k, v in files.items()}, pairs


@pytest.mark.parametrize("source", ["bitext", "kd", "bitext+kd"])
def test_pairs_are_filtered_and_concatenated_as_in_memory(corpus, source):
    _, files, pairs = corpus
    mapped = PairCorpus(files[source], max_len=10)
    kept = [(s, t) for s, t in pairs[source] if 0 < len(s) <= 10 and 0 < len(t) <= 10]
    assert 0 < len(mapped) < len(pairs[source]) and list(mapped) == kept
    assert mapped[-1] == kept[-1] and mapped[3:6] == kept[3:6]
    assert pair_lengths(mapped).tolist() == pair_lengths(kept).tolist()
    assert random.Random(4).sample(mapped, 5) == random.Random(4).sample(kept, 5)


def train(pairs, work, steps: int):
    torch.manual_seed(0)
    s = settings(steps=steps, save_every=3, valid_every=4, average_last=1, max_tokens=40)
    Trainer(Transformer(tiny(vocab_size=50, dropout=0.1)), pairs, pairs[:8], s, work,
            torch.device("cpu")).run()
    return torch.load(checkpoints(work)[-1], weights_only=True)


@pytest.mark.parametrize("source", ["bitext", "kd", "bitext+kd"])
def test_training_on_the_map_equals_training_in_memory_and_resumes_mid_epoch(corpus, source,
                                                                            tmp_path):
    _, files, pairs = corpus
    mapped = PairCorpus(files[source], max_len=10)
    in_memory = train([p for p in pairs[source] if max(map(len, p)) <= 10 and min(map(len, p))],
                      tmp_path / "memory", 12)
    straight = train(mapped, tmp_path / "straight", 12)
    first = train(mapped, tmp_path / "resumed", 5)  # a cap mid-epoch, then the rest
    resumed = train(PairCorpus(files[source], max_len=10), tmp_path / "resumed", 12)
    assert first["epoch"] == 0 and 0 < first["position"]  # stopped inside the first epoch
    assert resumed["step"] == straight["step"] == in_memory["step"] == 12
    for name, p in straight["model"].items():
        assert torch.equal(p, resumed["model"][name]) and torch.equal(p, in_memory["model"][name])
    assert read_lines(tmp_path / "resumed" / "train_log.csv")[-1].split(",")[:6] == \
        read_lines(tmp_path / "straight" / "train_log.csv")[-1].split(",")[:6]
