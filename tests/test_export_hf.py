"""wd-export-hf: MarianMT (post-norm) and Pegasus (pre-norm) directories that transformers loads
offline, computing our logits and our greedy translations (here on random models whose outputs
run to the length limit; the end-to-end test compares a trained toy student's, which end)."""
import pytest
import sentencepiece as spm
import torch

from conftest import peaked
from wd.decode.search import translate
from wd.export.hf import export_hf, hf_model
from wd.export.hf import main as export_main
from wd.export.package import write_package
from wd.model.checkpoint import save_model
from wd.settings import SearchSettings
from wd.vocab import EOS_ID, PAD_ID

transformers = pytest.importorskip("transformers")

SHAPES = {"post_norm_teacher": {}, "pre_norm_teacher": {"pre_norm": True},
          "pre_norm_stu2": {"pre_norm": True, "dec_layers": 1, "tie_output": False},
          "shared_embeddings": {"share_embeddings": True},
          "opus_mt_like": {"activation": "swish", "positions": "marian", "output_bias": True,
                           "share_embeddings": True}}


@pytest.mark.parametrize("shape", SHAPES)
def test_transformers_loads_it_offline_and_generates_our_greedy_output(shape, toy_bpe, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = peaked(**SHAPES[shape])
    export_hf(model, toy_bpe, tmp_path / "hf", ("en", "en"))
    hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    lines = ["the cat sat on the mat", "a dog ran", "birds sing in the park", "the mat", "a cat"]
    sp = spm.SentencePieceProcessor(model_file=str(toy_bpe))
    sources = sp.encode(lines, out_type=int)
    encoded = tokenizer(lines, padding=True, return_tensors="pt")
    assert [row[row != PAD_ID].tolist() for row in encoded.input_ids] == [
        s + [EOS_ID] for s in sources]
    limit = 15
    ours = translate(model, sources, SearchSettings(beam=1, max_len_a=0, max_len_b=limit),
                     torch.device("cpu"))
    with torch.no_grad():
        generated = hf.generate(**encoded, max_new_tokens=limit - 1)
    theirs = [[t for t in row[1:].tolist() if t not in (PAD_ID, EOS_ID)] for row in generated]
    assert theirs == ours
    assert len({tuple(h) for h in ours}) > 2  # outputs depend on the input


@pytest.mark.parametrize("over", [{"pre_norm": True}, {"activation": "swish",
                                                        "positions": "marian",
                                                        "output_bias": True}])
def test_logits_are_ours_to_rounding(over):
    model = peaked(**over)
    hf = hf_model(model)
    src, tgt = torch.tensor([[5, 6, 7, 8, 3], [9, 10, 3, 0, 0]]), torch.tensor([[2, 11, 12],
                                                                              [2, 14, 0]])
    with torch.no_grad():
        ours = model(src, tgt)
        theirs = hf(input_ids=src, attention_mask=src != 0, decoder_input_ids=tgt).logits
    assert (ours - theirs)[tgt != 0].abs().max() < 1e-5


def test_a_narrower_decoder_is_refused_with_the_reason(toy_bpe, tmp_path, capsys):
    model = peaked(dec_dim=16, dec_ffn=24, dec_heads=2)
    save_model(model, tmp_path / "final.pt", {})
    row = {"bleu": 1.0, "bleu_ci95_low": 0.5, "bleu_ci95_high": 1.5, "chrf": 2.0,
           "bleu_signature": "s", "sents_per_sec": 1.0, "device": "cpu", "threads": 1,
           "beam": 1, "speedup": 1.0, "train_steps": 1}
    write_package(tmp_path / "package", tmp_path / "final.pt", toy_bpe,
                  {"experiment": "x", "student": "stu1", "method": "wd", "seed": 1},
                  {"src": "en", "tgt": "en"}, SearchSettings(), tmp_path / "final.pt", row)
    with pytest.raises(SystemExit):
        export_main([str(tmp_path / "package"), str(tmp_path / "hf")])
    assert ("a decoder narrower than the encoder (enc_dim 32, dec_dim 16) has no transformers "
            "counterpart") in capsys.readouterr().err
    assert not (tmp_path / "hf").exists()
