"""Quantisation-aware training's fake quantisation is CTranslate2's int8, matrix for matrix; the
gradient passes through, and the float weights come back untouched."""
import numpy as np
import torch

from conftest import tiny
from wd.export.ct2 import build_spec, vocabulary
from wd.model.fake_quant import int8_rows, plain, quantisation_aware, quantised_modules
from wd.model.transformer import Transformer


def ctranslate2_int8(model: Transformer) -> dict:
    """CTranslate2's int8 variables of ``model``: name -> the matrix it computes with."""
    spec = build_spec(model, vocabulary(model, None))
    spec.validate()
    spec.optimize(quantization="int8")
    variables = {name: value.numpy() for name, value in spec.variables().items()
                 if hasattr(value, "numpy")}
    return {name.removesuffix("_scale"): variables[name.removesuffix("_scale")]
            / variables[name][:, None]
            for name in variables if name.endswith("weight_scale")}


def test_fake_quantisation_is_ctranslate2s_int8():
    torch.manual_seed(0)
    model = Transformer(tiny(vocab_size=50, tie_output=False)).eval()
    theirs = ctranslate2_int8(model)
    layer = model.decoder[0]
    attn = layer.self_attn
    ours = {
        "decoder/layer_0/ffn/linear_0/weight": layer.ffn.fc1.weight,
        "decoder/layer_0/self_attention/linear_0/weight":
            torch.cat([attn.q.weight, attn.k.weight, attn.v.weight]),
        "decoder/layer_0/attention/linear_2/weight": layer.cross_attn.out.weight,
        "encoder/embeddings_0/weight": model.src_embed.weight,
        "decoder/projection/weight": model.output.weight,
    }
    for name, weight in ours.items():
        expected = theirs[name]
        got = int8_rows(weight.detach()).numpy()
        assert np.allclose(got, expected, rtol=1e-6, atol=1e-7), name
    assert len(theirs) >= 2 * 7 + 3  # every matrix of the model is int8 in CTranslate2


def test_training_sees_int8_weights_and_keeps_float_ones():
    torch.manual_seed(0)
    model = Transformer(tiny(vocab_size=50)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    src = torch.tensor([[5, 6, 7, 2]])
    tgt = torch.tensor([[1, 8, 9]])
    quantisation_aware(model)
    fc1 = model.decoder[0].ffn.fc1
    assert torch.equal(fc1.weight, int8_rows(fc1.parametrizations.weight.original))
    model(src, tgt).sum().backward()
    grad = fc1.parametrizations.weight.original.grad
    assert grad is not None and grad.abs().sum() > 0  # straight through the rounding
    plain(model)
    assert not any(hasattr(m, "parametrizations") for m in quantised_modules(model))
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_a_quantisation_aware_run_saves_a_plain_model_that_continues_its_base(tmp_path):
    from conftest import settings, toy_pairs
    from wd.model.checkpoint import load_model, save_model
    from wd.pipeline import train_model
    torch.manual_seed(0)
    base = Transformer(tiny(vocab_size=50))
    save_model(base, tmp_path / "base.pt", {"train_steps": 6, "train_seconds": 1.0})
    pairs = toy_pairs(40)
    meta = train_model(base.cfg, "checkpoint", pairs, pairs[:8], settings(steps=3),
                       tmp_path / "work", tmp_path / "qat.pt", tmp_path / "log.csv",
                       torch.device("cpu"), init_from=tmp_path / "base.pt", qat=True)
    model, saved = load_model(tmp_path / "qat.pt")  # a plain Transformer's state
    assert saved["train_steps"] == meta["train_steps"] == 6 + 3
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     base.state_dict().values()))


def test_the_plan_chains_quantisation_aware_fine_tuning_after_any_method():
    import copy

    from conftest import DEFAULT_CONFIG
    from wd.config import student_methods, validate
    from wd.plan import Plan
    config = copy.deepcopy(DEFAULT_CONFIG)
    config["deploy"] = {"qat_steps": 30}
    validate(config)
    assert student_methods(config, "stu1") == [*config["methods"],
                                               *(f"{m}_qat" for m in config["methods"])]
    plan = Plan(config)
    qat = plan.run("stu1", "wd_qat", 1)
    assert qat.job.qat and qat.job.identity()["qat"] is True
    assert qat.job.init_from == plan.run("stu1", "wd", 1).job.model_out
    assert qat.job.settings.steps == 30 and qat.inputs["train"] == plan.train_files("bitext+kd")
    assert "qat" not in plan.run("stu1", "wd", 1).job.identity()
    control = plan.run("stu1", "wd_more", 1).job  # the same updates without fake quantisation
    assert not control.qat and "qat" not in control.identity()
    assert control.init_from == qat.job.init_from and control.settings == qat.job.settings


def test_quantisation_aware_fine_tuning_can_follow_chosen_methods_only():
    import copy

    import pytest

    from conftest import DEFAULT_CONFIG
    from wd.config import ConfigError, student_methods, validate
    config = copy.deepcopy(DEFAULT_CONFIG)
    config["deploy"] = {"qat_steps": 30, "qat_methods": ["kd", "wd"]}
    validate(config)
    assert student_methods(config, "stu1") == [*config["methods"], "kd_qat", "wd_qat"]
    config["deploy"] = {"qat_steps": 0}
    config["methods"] = [*config["methods"], "kd_more"]
    with pytest.raises(ConfigError, match=r"methods\.\d+: kd_more trains deploy\.qat_steps"):
        validate(config)
    config["methods"].pop()
    config["deploy"] = {"qat_steps": 30, "qat_methods": ["kd", "wd_warmup5"]}
    with pytest.raises(ConfigError, match=r"deploy\.qat_methods\.1: wd_warmup5"):
        validate(config)
