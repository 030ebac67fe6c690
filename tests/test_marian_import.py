"""An existing MarianMT (OPUS-MT) model imported as our Transformer: the same logits, the same
greedy translations, the export back to transformers unchanged; what ours cannot express is
refused in one line naming the config key. Random models made here, no network."""
import json

import pytest
import torch

from wd.decode.search import translate
from wd.export.hf import hf_model
from wd.model.marian import import_marian
from wd.pretrained import PretrainedError
from wd.settings import SearchSettings
from wd.vocab import BOS_ID, EOS_ID, PAD_ID

transformers = pytest.importorskip("transformers")

VOCAB, PAD, EOS, UNK = 60, 59, 0, 1  # MarianMT's layout: EOS 0, UNK 1, PAD last


def marian(tmp_path, activation="swish", shared=True, tied=True, **over):
    """A random MarianMT saved under ``tmp_path`` with a vocab.json, and the model itself; the
    weights scaled up so that greedy outputs depend on the input."""
    config = transformers.MarianConfig(
        vocab_size=VOCAB, decoder_vocab_size=VOCAB, d_model=32, encoder_layers=2,
        decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, activation_function=activation,
        pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
        max_position_embeddings=128, dropout=0.0, scale_embedding=True,
        share_encoder_decoder_embeddings=shared, tie_word_embeddings=tied, **over)
    torch.manual_seed(0)
    model = transformers.MarianMTModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" not in name and "embed_positions" not in name:
                p.normal_(0.0, 0.3)
        model.final_logits_bias.normal_()
    model.save_pretrained(tmp_path / "marian")
    vocab = {"</s>": EOS, "<unk>": UNK, **{f"p{i}": i for i in range(2, PAD)}, "<pad>": PAD}
    (tmp_path / "marian" / "vocab.json").write_text(json.dumps(vocab))
    return tmp_path / "marian", model


def ours_ids(rows: list[list[int]], vocab, decoder: bool = False) -> torch.Tensor:
    """MarianMT ids as ours (its PAD: our PAD in sources, our BOS where decoding starts)."""
    start = BOS_ID if decoder else PAD_ID
    return torch.tensor([[start if i == PAD else vocab.ours[i] for i in row] for row in rows])


@pytest.mark.parametrize(("activation", "shared", "tied"), [
    ("swish", True, True), ("relu", True, True), ("swish", False, True), ("relu", False, False)])
def test_imported_logits_are_marians(tmp_path, activation, shared, tied):
    path, theirs = marian(tmp_path, activation, shared, tied)
    ours, vocab = import_marian(path)
    assert ours.cfg.activation == ("swish" if activation == "swish" else "relu")
    assert ours.cfg.share_embeddings == shared and ours.cfg.tie_output == tied
    src = [[5, 6, 7, EOS], [9, 10, EOS, PAD]]
    tgt = [[PAD, 11, 12, 13], [PAD, 14, 15, EOS]]
    with torch.no_grad():
        expected = theirs(input_ids=torch.tensor(src), attention_mask=torch.tensor(src) != PAD,
                          decoder_input_ids=torch.tensor(tgt)).logits
        got = ours(ours_ids(src, vocab), ours_ids(tgt, vocab, decoder=True))
    rows = torch.tensor(vocab.rows)
    assert got.shape[-1] == VOCAB + 1
    # Every row but our PAD and BOS (MarianMT's PAD twice, never predicted) is MarianMT's.
    assert (got[..., [1, *range(3, VOCAB + 1)]]
            - expected[..., rows[[1, *range(3, VOCAB + 1)]]]).abs().max() < 1e-5


def test_greedy_translations_are_marians_generate(tmp_path):
    path, theirs = marian(tmp_path)
    ours, vocab = import_marian(path)
    g = torch.Generator().manual_seed(1)
    sources = [torch.randint(2, PAD, (int(torch.randint(3, 12, (1,), generator=g)),),
                             generator=g).tolist() for _ in range(300)]
    limit = 20  # ours: EOS forced at the 20th step; MarianMT's forced_eos_token_id: the same
    mine = translate(ours, [[vocab.ours[i] for i in s] for s in sources],
                     SearchSettings(beam=1, max_len_a=0, max_len_b=limit, batch_size=50),
                     torch.device("cpu"))
    expected = []
    for start in range(0, len(sources), 50):
        batch = [s + [EOS] for s in sources[start:start + 50]]
        width = max(map(len, batch))
        ids = torch.tensor([s + [PAD] * (width - len(s)) for s in batch])
        with torch.no_grad():
            out = theirs.generate(input_ids=ids, attention_mask=ids != PAD, num_beams=1,
                                  do_sample=False, max_new_tokens=limit,
                                  bad_words_ids=[[PAD]], decoder_start_token_id=PAD,
                                  eos_token_id=EOS, pad_token_id=PAD)
        expected += [[vocab.ours[t] for t in row[1:].tolist() if t not in (PAD, EOS)]
                     for row in out]
    assert len({tuple(h) for h in mine}) > 20  # outputs depend on the input
    assert mine == expected


def test_exporting_an_imported_teacher_gives_back_its_logits(tmp_path):
    path, theirs = marian(tmp_path)
    ours, vocab = import_marian(path)
    exported = hf_model(ours)
    src = [[5, 6, 7, EOS], [9, 10, EOS, PAD]]
    tgt = [[PAD, 11, 12, 13], [PAD, 14, 15, EOS]]
    o_src, o_tgt = ours_ids(src, vocab), ours_ids(tgt, vocab, decoder=True)
    with torch.no_grad():
        expected = theirs(input_ids=torch.tensor(src), attention_mask=torch.tensor(src) != PAD,
                          decoder_input_ids=torch.tensor(tgt)).logits
        got = exported(input_ids=o_src, attention_mask=o_src != PAD_ID,
                       decoder_input_ids=o_tgt).logits
    rows = torch.tensor(vocab.rows)
    kept = [1, *range(3, VOCAB + 1)]
    assert (got[..., kept] - expected[..., rows[kept]]).abs().max() < 1e-5
    assert vocab.ours[EOS] == EOS_ID


def test_what_is_not_an_expressible_marian_model_is_refused_in_one_line(tmp_path):
    with pytest.raises(PretrainedError, match=r"^config error at teacher.pretrained: \S+ has "
                                              r"no config.json"):
        import_marian(tmp_path)
    bart = transformers.BartConfig(vocab_size=20, d_model=16, encoder_layers=1, decoder_layers=1,
                                   encoder_attention_heads=2, decoder_attention_heads=2,
                                   encoder_ffn_dim=16, decoder_ffn_dim=16)
    bart.save_pretrained(tmp_path / "bart")
    with pytest.raises(PretrainedError, match="is a bart model, not MarianMT"):
        import_marian(tmp_path / "bart")
    for over, reason in [({"scale_embedding": False}, "scale_embedding is false"),
                         ({"activation_function": "gelu"}, "activation_function 'gelu'")]:
        config = transformers.MarianConfig(vocab_size=20, d_model=16, encoder_layers=1,
                                           decoder_layers=1, encoder_attention_heads=2,
                                           decoder_attention_heads=2, encoder_ffn_dim=16,
                                           decoder_ffn_dim=16,
                                           **{"activation_function": "swish",
                                              "scale_embedding": True, **over})
        config.save_pretrained(tmp_path / "m")
        with pytest.raises(PretrainedError, match=f"cannot import this MarianMT model: "
                                                    f"{reason}"):
            import_marian(tmp_path / "m")
