"""The whole DAG on a micro ``data.source: local`` corpus with three references per test sentence.

The corpus is written by the test: toy-grammar pairs (``wd.data.toy``), the training side gzipped,
each test sentence translated three times with different random choices (word order, synonyms,
pro-drop) as human references differ, and one reference stream spelt with the cedilla s/t of old
Romanian encodings. The table must score every system against all three references.
"""
import gzip
import random
from pathlib import Path

import pandas as pd
import pytest
import sacrebleu
import torch
import yaml
from test_pipeline_e2e import MICRO

from conftest import run_snakemake
from wd.data.text import detokenize
from wd.data.toy import (
    MAX_WORDS,
    MIN_WORDS,
    build_lexicon,
    realise_source,
    realise_target,
    sample_sentence,
)
from wd.evaluate.metrics import score
from wd.io import read_lines

pytestmark = pytest.mark.workflow

N_REFS = 3
COMMA_BELOW, CEDILLA = "\u0219\u021b\u0218\u021a", "\u015f\u0163\u015e\u0162"  # șțȘȚ, şţŞŢ
TO_CEDILLA, FROM_CEDILLA = str.maketrans(COMMA_BELOW, CEDILLA), str.maketrans(CEDILLA, COMMA_BELOW)


def _line(tokens: list[str], lang: str) -> str:
    text = detokenize(" ".join(tokens), lang)
    return text[0].upper() + text[1:]


def toy_corpus(n: int, n_refs: int, seed: str) -> tuple[list[str], list[list[str]]]:
    """``n`` sources and ``n_refs`` reference streams, each a different valid translation."""
    lex, rng = build_lexicon(7), random.Random(seed)
    sources, refs = [], [[] for _ in range(n_refs)]
    while len(sources) < n:
        sentence = sample_sentence(lex, rng)
        src = realise_source(sentence)
        if not MIN_WORDS <= len(src) - 1 - src.count(",") <= MAX_WORDS:
            continue
        sources.append(_line(src, "en"))
        for stream in refs:
            stream.append(_line(realise_target(sentence, rng), "ro"))
    return sources, refs


def write(path: Path, lines: list[str]) -> str:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return str(path)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    local = {}
    for split, size, n_refs in [("train", 300, 1), ("valid", 30, 1), ("test", 30, N_REFS)]:
        sources, refs = toy_corpus(size, n_refs, split)
        if n_refs > 1:  # one reference stream spelt as in old Romanian encodings
            refs[1] = [line.translate(TO_CEDILLA) for line in refs[1]]
        suffix = ".gz" if split == "train" else ""
        tgt = [write(corpus / f"{split}.ro{i or ''}{suffix}", ref) for i, ref in enumerate(refs)]
        local[split] = {"src": write(corpus / f"{split}.en{suffix}", sources),
                        "tgt": tgt if n_refs > 1 else tgt[0]}
    config = yaml.safe_load(MICRO.read_text())
    config.update(experiment="local_micro", methods=["kd", "wd"], seeds=[1, 2])
    config["data"] = {"source": "local", "src_lang": "en", "tgt_lang": "ro", "max_len": 128,
                      "local": local}
    config["evaluation"]["bleu_variants"] = ["ro_normalised"]
    configfile = corpus / "local_micro.yaml"
    configfile.write_text(yaml.safe_dump(config))
    results = tmp_path_factory.mktemp("results")
    run = run_snakemake("--cores", "2", "all", "--configfile", str(configfile),
                    "--config", f"results_dir={results}")
    assert run.returncode == 0, run.stderr[-4000:]
    return results / "local_micro", local


def test_every_system_is_scored_against_all_references(local_run):
    exp, local = local_run
    table = pd.read_csv(exp / "tables" / "results.csv")
    systems = list(zip(table.student, table.method, table.seed))
    assert systems[0] == ("teacher", "teacher", 1)
    assert sorted(systems[1:]) == [("tiny1", m, seed) for m in ("kd", "wd") for seed in (1, 2)]
    columns = list(table.columns)
    assert columns[columns.index("chrf") + 1] == "bleu_ro_normalised"
    assert "bleu_ro_normalised_signature" in columns
    for column in ["bleu_signature", "chrf_signature", "bleu_ro_normalised_signature"]:
        assert table[column].str.startswith(f"nrefs:{N_REFS}|").all(), column
    assert table.bleu_ro_normalised_signature.str.contains("tok:none").all()
    assert table.bleu_signature.str.contains("tok:13a").all()
    refs = [read_lines(exp / "data" / "raw" / f"test.tgt{suffix}") for suffix in ["", ".1", ".2"]]
    for row in table.itertuples():
        hyps = read_lines(exp / "eval" / row.student / row.method / f"seed{row.seed}" / "test.hyp")
        assert len(hyps) == 30
        expected = score(hyps, refs, ["ro_normalised"])
        assert row.bleu == expected["bleu"] == round(sacrebleu.corpus_bleu(hyps, refs).score, 2)
        assert row.chrf == expected["chrf"]
        assert row.bleu_ro_normalised == expected["bleu_ro_normalised"]
    md = (exp / "tables" / "results.md").read_text()
    assert "`bleu_ro_normalised`: WMT16 En-Ro normalised BLEU" in md


def test_references_are_copied_in_order_as_supplied(local_run):
    exp, local = local_run
    raw = exp / "data" / "raw"
    assert sorted(p.name for p in raw.glob("test.tgt*")) == ["test.tgt", "test.tgt.1", "test.tgt.2"]
    for i, copy in enumerate(["test.tgt", "test.tgt.1", "test.tgt.2"]):
        assert read_lines(raw / copy) == read_lines(local["test"]["tgt"][i])
    with_cedilla = read_lines(raw / "test.tgt.1")
    assert any(c in line for line in with_cedilla for c in CEDILLA)  # scored as published


def test_each_seed_trains_its_own_students_and_the_table_summarises_them(local_run):
    """Seeds change a student's initialisation and data order; Phase 1 runs once per seed."""
    exp, _ = local_run
    models = exp / "models" / "tiny1"
    assert sorted(p.name for p in models.glob("wd_phase1_all/seed*")) == ["seed1", "seed2"]
    name = "decoder.0.ffn.fc1.weight"
    for run in ["kd", "wd", "wd_phase1_all"]:
        first, second = (torch.load(models / run / f"seed{seed}" / "final.pt",
                                    weights_only=True)["model"][name] for seed in (1, 2))
        assert not torch.equal(first, second), run
    md = (exp / "tables" / "results.md").read_text()
    summary = md[md.index("Mean and standard deviation over seeds, student `tiny1`"):]
    assert "| kd | kd | 2 | " in summary and "| wd | bitext+kd | 2 | " in summary
