"""Incremental decoder (packed weights, caches reordered between beams), int8 decoding, forced
lengths, and the wd-translate command."""
import io
import math

import pytest
import torch

from conftest import tiny
from wd.config import search_settings
from wd.decode.cli import main as translate_main
from wd.decode.incremental import IncrementalDecoder
from wd.decode.search import beam_search, beam_search_nbest, translate
from wd.io import write_lines
from wd.model.checkpoint import save_model
from wd.model.transformer import Transformer
from wd.settings import SearchSettings


def build(**over) -> Transformer:
    torch.manual_seed(1)
    return Transformer(tiny(**over)).eval()


@pytest.mark.parametrize("over", [{}, {"pre_norm": True},
                                  {"dec_dim": 16, "dec_ffn": 24, "dec_heads": 2}])
def test_cached_beams_match_uncached_forward_after_reordering(over, batch):
    """Rows expanded to 3 beams and shuffled between steps still get the logits of a full
    forward pass over their own history."""
    model, (src, tgt) = build(**over), batch
    n, beam, steps = src.size(0), 3, tgt.size(1)
    decoder = IncrementalDecoder(model)
    state = decoder.start(*model.encode(src), beam=beam, max_steps=steps)
    g = torch.Generator().manual_seed(3)
    history = tgt[:, :1]  # (rows, t): row r belongs to sentence r // width
    for t in range(steps):
        logits = decoder.step(history[:, -1], state)
        width = history.size(0) // n
        sentence = torch.arange(history.size(0)) // width
        assert torch.allclose(logits, model(src[sentence], history)[:, -1], atol=1e-5)
        parent = (torch.arange(n).repeat_interleave(beam) * width
                  + torch.randint(0, width, (n * beam,), generator=g))
        decoder.reorder(state, parent, beam)
        history = torch.cat([history[parent], torch.randint(4, 50, (n * beam, 1), generator=g)], 1)


def test_int8_decoding_stays_close_to_fp32(batch):
    model, (src, tgt) = build(), batch
    fp32, int8 = IncrementalDecoder(model), IncrementalDecoder(model, int8=True)
    memory = model.encode(src)
    a, b = fp32.start(*memory, 1, 1), int8.start(*memory, 1, 1)
    la = torch.log_softmax(fp32.step(tgt[:, 0], a), -1)
    lb = torch.log_softmax(int8.step(tgt[:, 0], b), -1)
    assert not torch.equal(la, lb)  # really quantised
    assert (la.exp() - lb.exp()).abs().max() < 0.02
    out = translate(model, [[5, 6, 7], [8, 9]], SearchSettings(beam=2, int8=True),
                    torch.device("cpu"))
    assert len(out) == 2


def test_min_len_and_max_len_force_the_output_length(batch):
    src, _ = batch
    s = SearchSettings(beam=4, max_len_a=0.0, max_len_b=9, min_len=8)
    assert [len(h) for h in beam_search(build(), src, s)] == [8] * 4


def test_default_length_limit_is_fairseqs_not_source_relative():
    """0 x source length + 200: a 3-token source may get an output longer than the old
    hard-coded cap of 1.2 x 3 + 10 tokens."""
    s = SearchSettings(beam=2, min_len=30)
    assert (s.max_len_a, s.max_len_b) == (0.0, 200)
    (hyp,) = beam_search(build(), torch.tensor([[5, 6, 7]]), s)
    assert 30 <= len(hyp) <= 200 and len(hyp) > 1.2 * 3 + 10
    assert search_settings({"beam": 2, "max_len_a": 1.5, "max_len_b": 7, "shards": 3}) == \
        SearchSettings(beam=2, max_len_a=1.5, max_len_b=7)


def test_sentences_leaving_the_batch_early_keep_their_results(batch):
    """Different max lengths per sentence: finished ones leave, the rest continue."""
    model, (src, _) = build(), batch
    s = SearchSettings(beam=3, max_len_a=1.0, max_len_b=0, min_len=2)
    together = beam_search(model, src, s)
    alone = [beam_search(model, row[None][:, : int((row != 0).sum())], s)[0] for row in src]
    assert together == alone
    assert len({len(h) for h in together}) > 1


def test_nbest_lists_the_ended_hypotheses_best_first(batch):
    model, (src, _) = build(), batch
    s = SearchSettings(beam=4, max_len_a=1.0, max_len_b=3)
    nbest = beam_search_nbest(model, src, s, 3)
    assert [hyps[0][0] for hyps in nbest] == beam_search(model, src, s)
    for hyps in nbest:
        assert 1 <= len(hyps) <= 3
        scores = [score for _, score in hyps]
        assert scores == sorted(scores, reverse=True) and all(math.isfinite(x) for x in scores)
    assert any(len({tuple(tokens) for tokens, _ in hyps}) > 1 for hyps in nbest)
    with pytest.raises(ValueError, match=r"n-best needs 1 <= n <= beam \(4\), got 5"):
        beam_search_nbest(model, src, s, 5)


def test_wd_translate_reads_stdin_and_writes_a_file(toy_bpe, tmp_path, monkeypatch, capsys):
    import sentencepiece as spm
    vocab = spm.SentencePieceProcessor(model_file=str(toy_bpe)).get_piece_size()
    save_model(build(vocab_size=vocab), tmp_path / "final.pt", {})
    args = ["--model", str(tmp_path / "final.pt"), "--bpe", str(toy_bpe), "--src-lang", "en",
            "--tgt-lang", "en", "--beam", "2", "--batch-size", "1"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"the cat\na dog ran\n")))
    translate_main(args)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2
    write_lines(tmp_path / "in.txt", ["the cat", "a dog ran"])
    translate_main(args + ["--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o")])
    assert (tmp_path / "o").read_text().splitlines() == printed
    with pytest.raises(SystemExit):
        translate_main(args + ["--beam", "0"])
