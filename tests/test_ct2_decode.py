"""CTranslate2 as the evaluation's second engine: the same work as ours, and its config switch."""
import pytest
import torch

from conftest import OPUS_MT_LIKE, peaked, sources
from wd.decode import ct2 as ct2_decode
from wd.decode.engines import resolve
from wd.decode.search import length_sorted_batches, max_output_lengths, translate
from wd.settings import SearchSettings
from wd.vocab import EOS_ID

pytest.importorskip("ctranslate2")


@pytest.mark.parametrize("over", [{}, {"pre_norm": True}, {"dec_dim": 16, "dec_ffn": 24,
                                                            "dec_heads": 2},
                                  OPUS_MT_LIKE])
def test_float32_greedy_equals_ours_in_input_order(over, tmp_path):
    model, src = peaked(**over), sources()
    search = SearchSettings(beam=1, max_len_a=0.0, max_len_b=12, batch_size=5)
    ours = translate(model, src, search, torch.device("cpu"))
    theirs = ct2_decode.Ct2Translator(model, tmp_path / "m", "float32", torch.device("cpu"),
                                      1).translate(src, search)
    assert len({tuple(h) for h in ours}) > 3  # not constant outputs
    assert theirs == ours


def test_int8_translator_reuses_the_export_and_decodes(tmp_path):
    model, src = peaked(), sources()
    search = SearchSettings(beam=2, max_len_a=1.2, max_len_b=3, batch_size=4)
    ct2_decode.Ct2Translator(model, tmp_path / "m", "float32", torch.device("cpu"), 1)
    written = (tmp_path / "m" / "model.bin").stat().st_mtime_ns
    int8 = ct2_decode.Ct2Translator(model, tmp_path / "m", "int8", torch.device("cpu"), 1)
    assert (tmp_path / "m" / "model.bin").stat().st_mtime_ns == written
    hyps = int8.translate(src, search)
    assert len(hyps) == len(src) and any(hyps)
    limits = []
    for idx in length_sorted_batches(src, search.batch_size):  # the batches ours decodes
        limit = ct2_decode.output_limit([src[i] for i in idx], search)
        limits.append(limit)
        assert all(len(hyps[i]) <= limit for i in idx)
    assert len(set(limits)) > 1  # batches of different source lengths


@pytest.mark.parametrize("a,b", [(0.0, 12), (1.2, 10), (1.2, 0), (0.0, 0)])
def test_output_limit_is_ours_for_the_longest_source_less_the_eos_step(a, b):
    search = SearchSettings(max_len_a=a, max_len_b=b)
    batch = [[4] * 3, [4] * 9, [4] * 5]
    ours = int(max_output_lengths(torch.tensor([10]), search))  # 9 tokens + EOS
    assert ct2_decode.output_limit(batch, search) == ours - 1


@pytest.fixture
def fresh_check():
    """CTranslate2's trial translation is made once a process: forget it before and after."""
    ct2_decode.unusable_reason.cache_clear()
    yield
    ct2_decode.unusable_reason.cache_clear()


def test_the_config_switch(monkeypatch, fresh_check):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert ct2_decode.compute_types("auto", cpu) == ("float32", "int8")
    assert ct2_decode.compute_types(True, cpu) == ("float32", "int8")
    assert ct2_decode.compute_types(False, cpu) == ()
    monkeypatch.setattr(ct2_decode.ct2_module(), "get_cuda_device_count", lambda: 0)
    assert ct2_decode.compute_types("auto", cuda) == ()  # a build without CUDA: not timed
    with pytest.raises(ImportError, match="evaluation.ctranslate2 is true but CTranslate2 cannot "
                                          "run on cuda"):
        ct2_decode.compute_types(True, cuda)
    monkeypatch.setattr(ct2_decode, "available", lambda: False)
    ct2_decode.unusable_reason.cache_clear()
    assert ct2_decode.compute_types("auto", cpu) == ()
    with pytest.raises(ImportError, match="cannot run on cpu: the ctranslate2 package is not "
                                          "installed"):
        ct2_decode.compute_types(True, cpu)


def test_auto_falls_back_to_ours_where_ctranslate2_cannot_translate(monkeypatch, fresh_check,
                                                                      caplog):
    """A wheel that imports but cannot translate (its CUDA libraries missing on the node): auto
    decodes with ours after one warning line; asking for CTranslate2 is an error saying why."""
    def broken(self, *args, **kwargs):
        raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")

    monkeypatch.setattr(ct2_decode.ct2_module().Translator, "translate_batch", broken)
    cpu = torch.device("cpu")
    assert resolve("auto", cpu) == "ours"
    assert [r.getMessage() for r in caplog.records] == [
        "kd.engine is auto: decoding with ours, as CTranslate2 cannot run here: it failed to "
        "translate on cpu (RuntimeError: Library libcublas.so.12 is not found or cannot be "
        "loaded)"]
    with pytest.raises(ImportError, match="kd.engine is ctranslate2 but CTranslate2 cannot run "
                                          "on cpu: it failed to translate on cpu"):
        resolve("ctranslate2", cpu)
    assert ct2_decode.compute_types("auto", cpu) == ()


def test_each_sentence_keeps_its_own_source_relative_length_limit(tmp_path):
    """Outputs that run to the limit (a logits bias that rules EOS out) end at each sentence's
    own limit, not at that of the batch's longest source."""
    model, src = peaked(output_bias=True), [[5] * n for n in (2, 3, 3, 6, 9)]
    with torch.no_grad():
        model.output_bias.bias[EOS_ID] = -1e4
    search = SearchSettings(beam=2, max_len_a=1.5, max_len_b=2, batch_size=5)
    theirs = ct2_decode.Ct2Translator(model, tmp_path / "m", "float32", torch.device("cpu"),
                                      1).translate(src, search)
    ours = translate(model, src, search, torch.device("cpu"))
    limits = [int(1.5 * (n + 1) + 2) - 1 for n in (2, 3, 3, 6, 9)]  # EOS step excluded
    assert [len(h) for h in theirs] == limits
    assert [len(h) for h in ours] == limits
    assert ct2_decode.equal_limit_runs([0, 1, 2, 3, 4], src, search) == [[0], [1, 2], [3], [4]]
