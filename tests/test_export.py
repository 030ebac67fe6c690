"""CTranslate2 export: the exported model translates exactly like ours (greedy)."""
import pytest
import torch

from conftest import OPUS_MT_LIKE, peaked, sources, tiny
from wd.decode.search import translate
from wd.export.ct2 import export_model, main, vocabulary
from wd.model.checkpoint import save_model
from wd.model.transformer import Transformer
from wd.settings import SearchSettings

ctranslate2 = pytest.importorskip("ctranslate2")


@pytest.mark.parametrize("over", [{}, {"pre_norm": True}, {"share_embeddings": True},
                                  {"tie_output": False, "dec_heads": 2, "dec_layers": 1},
                                  {"dec_dim": 16, "dec_ffn": 24, "dec_heads": 2},
                                  OPUS_MT_LIKE])
def test_exported_model_translates_like_ours(over, tmp_path):
    model, src = peaked(**over), sources()
    ours = translate(model, src, SearchSettings(beam=1, max_len_a=0.0, max_len_b=12),
                     torch.device("cpu"))
    vocab = vocabulary(model, None)
    translator = ctranslate2.Translator(str(export_model(model, tmp_path / "ct2", vocab)))
    results = translator.translate_batch([[vocab[i] for i in s] for s in src], beam_size=1,
                                         max_decoding_length=11,
                                         suppress_sequences=[["<s>"], ["<blank>"]])
    theirs = [[vocab.index(t) for t in r.hypotheses[0]] for r in results]
    assert len({tuple(h) for h in ours}) > 3  # the comparison is not between constant outputs
    assert theirs == ours


def test_export_command_writes_model_dir(tmp_path, capsys):
    save_model(peaked(), tmp_path / "final.pt", {})
    main([str(tmp_path / "final.pt"), str(tmp_path / "out"), "--quantization", "int8"])
    assert (tmp_path / "out" / "model.bin").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_vocabulary_size_mismatch_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="vocabulary has 3 entries"):
        export_model(peaked(), tmp_path / "x", ["a", "b", "c"])


def test_an_int8_export_leaves_the_model_as_it_was(tmp_path):
    torch.manual_seed(0)
    model = Transformer(tiny(vocab_size=50)).eval()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    export_model(model, tmp_path / "int8", vocabulary(model, None), quantization="int8")
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name  # CTranslate2 quantises arrays in place
