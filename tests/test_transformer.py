import pytest
import torch

from conftest import OPUS_MT_LIKE, tiny
from wd.decode.incremental import IncrementalDecoder
from wd.decode.search import beam_search, translate
from wd.model.transformer import Transformer, count_parameters, sinusoidal_positions
from wd.settings import ModelConfig, SearchSettings
from wd.vocab import EOS_ID


def build(**over) -> Transformer:
    torch.manual_seed(1)
    return Transformer(tiny(**over)).eval()


@pytest.mark.parametrize("over", [{}, {"pre_norm": True}, {"share_embeddings": True},
                                  {"tie_output": False, "dec_dim": 16, "dec_ffn": 24,
                                   "dec_heads": 2, "dec_layers": 1},
                                  OPUS_MT_LIKE])
def test_incremental_decoding_matches_full_forward(over, batch):
    model = build(**over)
    if model.output_bias is not None:
        torch.nn.init.normal_(model.output_bias.bias)
    src, tgt = batch
    full = model(src, tgt)
    decoder = IncrementalDecoder(model)
    state = decoder.start(*model.encode(src), beam=1, max_steps=tgt.size(1))
    steps = torch.stack([decoder.step(tgt[:, i], state) for i in range(tgt.size(1))], 1)
    assert torch.allclose(steps, full, atol=1e-5)


def test_decoder_can_be_narrower_than_encoder():
    model = build(dec_dim=16, dec_ffn=24, dec_heads=2)
    assert model.decoder[0].cross_attn.k.weight.shape == (16, 32)
    assert model.decoder[0].cross_attn.q.weight.shape == (16, 16)


def test_shared_embeddings_counted_once():
    shared, separate = build(share_embeddings=True), build()
    assert shared.src_embed is shared.tgt_embed
    assert count_parameters(separate) - count_parameters(shared) == 50 * 32


def test_config_rejects_heads_not_dividing_width():
    with pytest.raises(ValueError, match="divisible"):
        tiny(enc_heads=5)


def greedy_reference(model: Transformer, src: torch.Tensor, max_len: torch.Tensor) -> list:
    """Plain greedy decoding by full re-computation, no cache, no beam machinery."""
    out = []
    for row, limit in zip(src, max_len):
        tokens = [2]
        for _ in range(int(limit)):
            logits = model(row[None], torch.tensor([tokens]))[0, -1]
            logits[0] = logits[2] = float("-inf")
            nxt = int(logits.argmax())
            if nxt == EOS_ID:
                break
            tokens.append(nxt)
        out.append(tokens[1:])
    return out


def test_beam_one_equals_greedy(batch):
    model = build()
    src, _ = batch
    s = SearchSettings(beam=1, max_len_a=0.0, max_len_b=8)
    reference = greedy_reference(model, src, torch.full((4,), 7))
    assert beam_search(model, src, s) == reference


def test_beam_search_finds_score_at_least_greedy(batch):
    """Beam 4 never returns a hypothesis scoring below the greedy one (lenpen 0 = raw sum)."""
    model = build()
    src, _ = batch

    def logprob(row, hyp):
        tgt_in = torch.tensor([[2] + hyp])
        out = torch.tensor(hyp + [EOS_ID])
        lp = torch.log_softmax(model(row[None], tgt_in)[0], -1)
        return float(lp.gather(1, out[:, None]).sum())

    short = dict(lenpen=0.0, max_len_a=1.2, max_len_b=10)  # an untrained model never stops
    greedy = beam_search(model, src, SearchSettings(beam=1, **short))
    beam = beam_search(model, src, SearchSettings(beam=4, **short))
    for row, g, b in zip(src, greedy, beam):
        assert logprob(row, b) >= logprob(row, g) - 1e-4


def test_translate_restores_input_order(batch):
    model = build()
    src, _ = batch
    sources = [[int(t) for t in row if t != 0][:-1] for row in src]
    s = SearchSettings(beam=2, batch_size=2)
    one_by_one = [translate(model, [x], s, torch.device("cpu"))[0] for x in sources]
    assert translate(model, sources, s, torch.device("cpu")) == one_by_one


def test_marian_positions_are_transformers_table():
    pytest.importorskip("transformers")
    from transformers.models.marian.modeling_marian import MarianSinusoidalPositionalEmbedding
    theirs = MarianSinusoidalPositionalEmbedding(512, 32)
    theirs.weight.data = theirs.create_weight()
    assert torch.equal(sinusoidal_positions(512, 32, layout="marian"), theirs.weight)
    assert not torch.allclose(sinusoidal_positions(512, 32), theirs.weight, atol=1e-3)


def test_later_model_fields_stay_out_of_a_default_models_identity():
    assert "activation" not in tiny().to_dict() and "positions" not in tiny().to_dict()
    swish = tiny(activation="swish", positions="marian")
    assert swish.to_dict()["activation"] == "swish" and ModelConfig(**swish.to_dict()) == swish
    with pytest.raises(ValueError, match="activation 'gelu' is not one of"):
        tiny(activation="gelu")


@pytest.mark.parametrize("key", ["attention_dropout", "activation_dropout"])
def test_attention_and_activation_dropout_are_their_own_keys(batch, key):
    """With ``dropout`` 0, training outputs vary from call to call only where the key drops
    something; unset, the key follows ``dropout`` (models made before the keys existed)."""
    src, tgt_in = batch
    assert key not in tiny(dropout=0.3).to_dict()
    assert getattr(tiny(dropout=0.3), key.replace("dropout", "p")) == 0.3
    for value, varies in [(0.0, False), (0.5, True)]:
        torch.manual_seed(0)
        model = Transformer(tiny(**{key: value})).train()
        assert (not torch.equal(model(src, tgt_in), model(src, tgt_in))) == varies
        assert ModelConfig(**model.cfg.to_dict()) == model.cfg
    with pytest.raises(ValueError, match=f"{key} must be in"):
        tiny(**{key: 1.0})
