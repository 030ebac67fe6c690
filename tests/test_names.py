"""The one table of parameter names: every tensor of every model shape parses and round-trips."""

import pytest

from wd.model.names import parse
from wd.model.transformer import Transformer
from wd.settings import ModelConfig

SHAPES = [dict(pre_norm=True, tie_output=False), dict(pre_norm=False, tie_output=True),
          dict(pre_norm=True, tie_output=True, share_embeddings=True, dec_dim=8)]


def model(**keys) -> Transformer:
    shape = dict(vocab_size=30, enc_layers=2, dec_layers=3, enc_dim=8, dec_dim=4, enc_ffn=16,
                 dec_ffn=8, enc_heads=2, dec_heads=2)
    return Transformer(ModelConfig(**{**shape, **keys}))


@pytest.mark.parametrize("keys", SHAPES)
def test_every_parameter_and_hooked_module_round_trips(keys):
    m = model(**keys)
    names = [name for name, _ in m.named_parameters()]
    names += [name for name, module in m.named_modules()
              if name and not name.endswith("_sub") and name not in ("encoder", "decoder")]
    for name in names:
        assert str(parse(name)) == name


def test_places_and_kinds():
    place = parse("decoder.2.cross_attn.k.weight")
    assert (place.side, place.layer, place.block, place.module, place.tensor) == (
        "dec", 2, "cross_attn", "k", "weight")
    assert place.kind == "attention" and place.in_layer(0) == "decoder.0.cross_attn.k.weight"
    assert parse("encoder.1.ffn_sub.norm.bias").kind == "norm"
    assert parse("encoder.1.ffn.fc1.bias").kind == "ffn"
    assert parse("enc_norm.weight").kind == "norm" and parse("enc_norm.weight").side == "enc"
    assert parse("output.weight").kind == "output" and parse("output.weight").side == "dec"
    assert parse("src_embed.weight").kind == "embedding"
    assert parse("decoder.1").kind is None and parse("decoder.1").block is None


def test_transformers_names():
    assert parse("decoder.0.cross_attn.out.bias").hf() == (
        "model.decoder.layers.0.encoder_attn.out_proj.bias")
    assert parse("encoder.3.self_attn_sub.norm.weight").hf() == (
        "model.encoder.layers.3.self_attn_layer_norm.weight")
    assert parse("dec_norm.bias").hf() == "model.decoder.layer_norm.bias"


@pytest.mark.parametrize("name", ["encoder.x.ffn.fc1.weight", "decoder.0.ffn.q.weight",
                                  "positions", "encoder.0.cross_attn"[:-1] + "x"])
def test_a_foreign_name_is_refused_with_the_name(name):
    with pytest.raises(ValueError, match="not a parameter or module name"):
        parse(name)
