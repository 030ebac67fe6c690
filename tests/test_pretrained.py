"""A pretrained MarianMT teacher (``teacher.pretrained``) with its own tokenizer: the config takes
its shape at start-up and refuses what we cannot import in one line; our reading of its
tokenizer gives MarianTokenizer's ids; the micro pipeline distils it to packages whose
``wd-translate`` output is the evaluated one. A random MarianMT with sentencepiece models trained
here, no network."""
import copy
import json
import os
import subprocess

import pandas as pd
import pytest
import sentencepiece as spm
import torch
import yaml

from conftest import DEFAULT_CONFIG, REPO, run_snakemake, snakemake_cmd
from wd.config import ConfigError, validate
from wd.data.bpe import TeacherTokenizer, ids_to_text, load_bpe, source_ids
from wd.data.toy import generate_toy_corpus
from wd.decode.cli import main as translate_main
from wd.export.ct2 import main as ct2_main
from wd.export.hf import main as export_main
from wd.io import read_lines
from wd.model.marian import import_marian
from wd.model.transformer import count_parameters
from wd.pretrained import MARIAN_DEFAULTS, vocabulary_map
from wd.vocab import EOS_ID

transformers = pytest.importorskip("transformers")

PIECES = 120  # per side's sentencepiece model


def opus_mt_like(folder, corpus, seed: int = 0):
    """A random OPUS-MT-like MarianMT in ``folder``: unigram sentencepiece models trained on
    each side of ``corpus/train.*``, one vocab.json in MarianMT's layout (EOS 0, UNK 1, PAD
    last), MarianTokenizer's and the model's files as save_pretrained writes them."""
    folder.mkdir(parents=True)
    for side, name in (("src", "source"), ("tgt", "target")):
        spm.SentencePieceTrainer.train(
            input=str(corpus / f"train.{side}"), model_prefix=str(folder / name),
            vocab_size=PIECES, model_type="unigram", minloglevel=2, num_threads=1)
        (folder / f"{name}.model").rename(folder / f"{name}.spm")
    pieces = dict.fromkeys(
        spm.SentencePieceProcessor(model_file=str(folder / f"{name}.spm")).id_to_piece(i)
        for name in ("source", "target") for i in range(PIECES))
    pieces = [p for p in pieces if p not in ("<unk>", "<s>", "</s>")]
    vocab = {"</s>": 0, "<unk>": 1, **{p: i for i, p in enumerate(pieces, 2)}}
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    transformers.MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"),
                                 str(folder / "vocab.json"), source_lang="en",
                                 target_lang="ro").save_pretrained(folder)
    config = transformers.MarianConfig(
        vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=32, encoder_layers=2,
        decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, activation_function="swish",
        pad_token_id=vocab["<pad>"], eos_token_id=0, decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=0, max_position_embeddings=256, dropout=0.0, scale_embedding=True)
    torch.manual_seed(seed)
    model = transformers.MarianMTModel(config).eval()
    with torch.no_grad():  # scaled up so that outputs depend on the input
        for name, p in model.named_parameters():
            if "layer_norm" not in name and "embed_positions" not in name:
                p.normal_(0.0, 0.3)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """The random teacher, its sentencepiece models trained on the micro pipeline's toy data."""
    root = tmp_path_factory.mktemp("pretrained")
    micro = yaml.safe_load((REPO / "tests" / "micro.yaml").read_text())
    generate_toy_corpus(root / "corpus", DEFAULT_CONFIG["seed"], micro["data"]["toy"])
    return opus_mt_like(root / "opus-mt-en-ro", root / "corpus")


# The micro pipeline's student: a narrower decoder cannot share the teacher's one table.
STUDENT = {"name": "tiny1", "dec_layers": 1, "dec_dim": 16, "dec_ffn": 32, "dec_heads": 2,
           "share_embeddings": False}


def with_teacher(source) -> dict:
    config = copy.deepcopy(DEFAULT_CONFIG)
    config["teacher"]["pretrained"] = str(source)
    config["students"] = [STUDENT]
    return config


def test_marian_defaults_are_transformers():
    defaults = transformers.MarianConfig()
    assert defaults.decoder_vocab_size == defaults.vocab_size  # None: the same as vocab_size
    assert {key: getattr(defaults, key) for key in MARIAN_DEFAULTS if key != "decoder_vocab_size"
            } == {k: v for k, v in MARIAN_DEFAULTS.items() if k != "decoder_vocab_size"}


def test_config_takes_the_teacher_shape(teacher_dir):
    config = with_teacher(teacher_dir)
    validate(config)
    assert config["teacher"]["model"] == {
        "enc_layers": 2, "dec_layers": 2, "enc_dim": 32, "dec_dim": 32, "enc_ffn": 64,
        "dec_ffn": 64, "enc_heads": 4, "dec_heads": 4, "dropout": 0.0, "pre_norm": False,
        "share_embeddings": True, "tie_output": True, "activation": "swish",
        "positions": "marian", "output_bias": True}


def test_what_cannot_be_imported_stops_at_start_up_naming_the_key(teacher_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    multilingual = tmp_path / "multi"
    multilingual.mkdir()
    for file in teacher_dir.iterdir():
        (multilingual / file.name).write_bytes(file.read_bytes())
    vocab = json.loads((teacher_dir / "vocab.json").read_text())
    vocab[">>fr<<"] = vocab.pop(next(p for p in vocab if p not in ("</s>", "<unk>", "<pad>")))
    (multilingual / "vocab.json").write_text(json.dumps(vocab))
    gelu = tmp_path / "gelu"
    gelu.mkdir()
    config = json.loads((teacher_dir / "config.json").read_text())
    (gelu / "config.json").write_text(json.dumps({**config, "activation_function": "gelu"}))
    exported = tmp_path / "exported"  # wd-export-hf's: decoding starts from BOS
    exported.mkdir()
    for file in teacher_dir.iterdir():
        (exported / file.name).write_bytes(file.read_bytes())
    (exported / "config.json").write_text(json.dumps({**config, "decoder_start_token_id": 3}))
    for source, reason in [(tmp_path / "empty", "has no config.json"),
                           (multilingual, "a multilingual model"),
                           (gelu, "activation_function 'gelu'"),
                           (exported, "decoding starts from id 3, not from PAD")]:
        with pytest.raises(ConfigError) as err:
            validate(with_teacher(source))
        message = str(err.value)
        assert message.startswith("config error at teacher.pretrained: ") and "\n" not in message
        assert reason in message


def test_our_reading_of_the_tokenizer_is_marians(teacher_dir, tmp_path):
    ours = load_bpe(teacher_dir / "vocab.json")
    assert isinstance(ours, TeacherTokenizer)
    theirs = transformers.MarianTokenizer.from_pretrained(str(teacher_dir))
    vocab = vocabulary_map(json.loads((teacher_dir / "vocab.json").read_text()))
    lines = read_lines(teacher_dir.parent / "corpus" / "test.src")[:50] + ["Ünïcode ☃ unseen"]
    expected = [[vocab.ours[i] for i in row[:-1]]  # MarianTokenizer ends each with EOS
                for row in theirs(lines).input_ids]
    got = source_ids(ours, lines, "en")
    assert got == expected and any(1 in row for row in got)  # the last line has unknown pieces
    targets = read_lines(teacher_dir.parent / "corpus" / "test.tgt")[:50]
    ids = [[vocab.ours[i] for i in row[:-1]] for row in theirs(text_target=targets).input_ids]
    assert ids_to_text(ours, ids, "ro") == theirs.batch_decode(
        [row[:-1] for row in theirs(text_target=targets).input_ids], skip_special_tokens=True)


@pytest.mark.workflow
def test_micro_pipeline_distils_the_pretrained_teacher(teacher_dir, tmp_path, monkeypatch):
    """From the imported teacher to packages: the teacher row is the imported model, and a
    student package translates raw text exactly as it was evaluated."""
    overlay = tmp_path / "pretrained.yaml"
    overlay.write_text(yaml.safe_dump({
        "experiment": "micro_pretrained", "results_dir": str(tmp_path / "results"),
        "teacher": {"pretrained": str(teacher_dir)}, "students": [STUDENT],
        "methods": ["cutoff", "wd"],
        "seeds": [1]}))
    run = run_snakemake("--cores", "2", "all", "--configfile", str(REPO / "tests" / "micro.yaml"),
                        str(overlay))
    assert run.returncode == 0, run.stderr[-4000:]
    exp = tmp_path / "results" / "micro_pretrained"
    assert not (exp / "data" / "tok").exists() and not (exp / "bpe" / "spm.model").exists()
    table = pd.read_csv(exp / "tables" / "results.csv")
    teacher = table[table.method == "teacher"].iloc[0]
    imported, _ = import_marian(teacher_dir)
    assert teacher.train_steps == 0 and teacher.params == count_parameters(imported)
    assert teacher.train_data == "pretrained"
    card = (exp / "models" / "teacher" / "package" / "README.md").read_text()
    assert "The pretrained teacher, imported (not trained here)" in card
    package = exp / "models" / "tiny1" / "wd" / "package"
    assert sorted(p.name for p in package.iterdir() if not p.name.startswith(".")) == [
        "README.md", "config.json", "manifest.json", "model.safetensors", "source.spm",
        "target.spm", "vmap.txt", "vocab.json"]  # the vocabulary map in the teacher's pieces
    translate_main(["--model", str(package), "--input", str(exp / "data" / "raw" / "test.src"),
                    "--output", str(tmp_path / "hyp"), "--no-vmap"])  # as evaluated
    evaluated = exp / "eval" / "tiny1" / "wd" / "seed1" / "test.hyp"
    assert (tmp_path / "hyp").read_text() == evaluated.read_text()
    # CTranslate2's vocabulary is the teacher's pieces in our order (special ids: its names).
    ct2_main([str(package), str(tmp_path / "ct2")])
    tokenizer = load_bpe(package / "vocab.json")
    pieces = json.loads((tmp_path / "ct2" / "shared_vocabulary.json").read_text())
    assert pieces[4:] == [tokenizer.id_to_piece(i) for i in range(4, tokenizer.get_piece_size())]
    # The teacher's package exported to transformers reads raw text as the teacher's tokenizer.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    export_main([str(exp / "models" / "teacher" / "package"), str(tmp_path / "hf")])
    exported = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    lines = read_lines(exp / "data" / "raw" / "test.src")
    ours = load_bpe(exp / "models" / "teacher" / "package" / "vocab.json")
    assert exported(lines).input_ids == [row + [EOS_ID] for row in source_ids(ours, lines, "en")]


@pytest.mark.workflow
def test_the_opus_mt_config_plans_from_a_local_copy_and_stops_offline_without_one(
        teacher_dir, tmp_path):
    opus = str(REPO / "configs" / "opus_mt_en_de.yaml")
    local = tmp_path / "local.yaml"
    local.write_text(yaml.safe_dump({"teacher": {"pretrained": str(teacher_dir)},
                                     "results_dir": str(tmp_path / "results")}))
    run = run_snakemake("-n", "all", "--configfile", opus, str(local))
    assert run.returncode == 0, run.stderr[-3000:]
    for rule in ("import_tokenizer", "import_teacher", "download", "train_student"):
        assert f"rule {rule}:" in run.stdout + run.stderr, rule
    assert "run_name=wd_phase1_all," in run.stdout  # WD's Phase 1 planned
    assert "rule train_bpe:" not in run.stdout + run.stderr
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run(snakemake_cmd("-n", "all", "--configfile", opus, "--config",
                                       f"results_dir={tmp_path / 'results'}"),
                         cwd=REPO, capture_output=True, text=True, env=env)
    assert run.returncode != 0
    assert ("config error at teacher.pretrained: Helsinki-NLP/opus-mt-en-de is neither a "
            "directory nor a model id") in run.stderr
