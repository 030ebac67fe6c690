import pytest
import torch
import torch.nn.functional as F

from conftest import tiny
from wd.model.checkpoint import save_model
from wd.model.generator import (
    ElementwiseMap,
    FreeMap,
    MatrixMap,
    OutputMap,
    Phase1Model,
    VectorMap,
    build_generator,
    generator_parameters,
    transferred,
)
from wd.model.inits.cutoff import cutoff_student
from wd.model.inits.select import selected_student
from wd.model.mapping import layer_groups
from wd.model.transformer import Transformer

SHAPES = {
    "stu1_narrow_decoder": dict(dec_layers=1, dec_dim=16, dec_ffn=32, dec_heads=2,
                                tie_output=False),
    "stu2_two_full_layers": dict(dec_layers=2),
    "non_integer_ratio": dict(enc_layers=2, dec_layers=2),
    "narrow_encoder_too": dict(enc_layers=2, enc_dim=16, enc_ffn=24, enc_heads=2, dec_layers=2,
                               dec_dim=16, dec_ffn=24, dec_heads=2),
    "deeper_student": dict(dec_layers=5),
}


def teacher_model(**over) -> Transformer:
    """A 3+3-layer teacher whose biases and norms are non-trivial, like a trained one."""
    torch.manual_seed(3)
    model = Transformer(tiny(enc_layers=3, dec_layers=3, **over)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize(("n_t", "n_s", "expected"), [
    (6, 1, [[0, 1, 2, 3, 4, 5]]), (6, 2, [[0, 1, 2], [3, 4, 5]]),
    (6, 4, [[0], [1, 2], [3], [4, 5]]), (3, 2, [[0], [1, 2]]), (2, 4, [[0], [0], [1], [1]]),
    (5, 5, [[0], [1], [2], [3], [4]]),
])
def test_layer_groups_cover_every_teacher_layer(n_t, n_s, expected):
    groups = layer_groups(n_t, n_s)
    assert groups == expected
    assert sorted({j for g in groups for j in g}) == list(range(n_t))


@pytest.mark.parametrize("name", SHAPES)
def test_generated_shapes_match_student(name):
    teacher = teacher_model()
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(**SHAPES[name]))
    generated = model.generator()
    expected = dict(Transformer(tiny(**SHAPES[name])).named_parameters())
    assert {k: v.shape for k, v in generated.items()} == {k: v.shape for k, v in expected.items()}


def test_map_kinds_follow_the_method():
    teacher = teacher_model()
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(**SHAPES["stu1_narrow_decoder"]))
    maps = model.generator.maps
    # Encoder keeps the teacher's shape: element-wise only.
    assert isinstance(maps["encoder__0__self_attn__q__weight"], ElementwiseMap)
    # One student decoder layer from a group of three narrower ones: grouped maps.
    q = maps["decoder__0__self_attn__q__weight"]
    assert isinstance(q, MatrixMap) and q.mix.shape == (3, 3) and q.p_out.shape == (32, 16)
    k = maps["decoder__0__cross_attn__k__weight"]
    assert k.p_in.shape == (32, 32) and k.p_out.shape == (32, 16)  # keys from encoder width
    assert isinstance(maps["decoder__0__ffn_sub__norm__weight"], VectorMap)
    assert torch.allclose(q.weights, torch.full((3,), 1 / 3))


def test_matrix_map_equals_the_written_formula():
    """The cheap evaluation (mix, then project) equals the X_j, Y_k, Z sequence of the paper
    (docs/method.md)."""
    torch.manual_seed(0)
    m = MatrixMap(3, torch.Size([8, 6]), torch.Size([4, 5]))
    with torch.no_grad():
        m.scale.normal_()
        m.shift.normal_()
        m.weights.normal_()
    teacher = torch.randn(3, 8, 6)
    x = [m.p_out.t() @ teacher[j] @ m.p_in for j in range(3)]
    y = [sum(m.mix[j, k] * x[j] for j in range(3)) for k in range(3)]
    z = sum(m.weights[k] * y[k] for k in range(3))
    assert torch.allclose(m(teacher), m.scale * torch.tanh(z) + m.shift, atol=1e-6)


@pytest.mark.parametrize("name", SHAPES)
def test_converted_student_matches_phase1_model(name, batch):
    teacher = teacher_model()
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(**SHAPES[name])).eval()
    with torch.no_grad():  # move away from the initial values so the test sees real mixing
        for p in model.generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    src, tgt = batch
    student = model.export_student().eval()
    torch.testing.assert_close(student(src, tgt), model(src, tgt), atol=1e-5, rtol=0)


def test_phase1_updates_only_the_generator(batch):
    teacher = teacher_model()
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(**SHAPES["stu1_narrow_decoder"]))
    model.train()
    frozen = {k: v.clone() for k, v in model.generator.named_buffers()}
    before = {k: v.clone() for k, v in model.generator.named_parameters()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    src, tgt = batch
    for _ in range(3):
        logits = model(src, tgt)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), src[:, :7].reshape(-1))
        loss.backward()
        for name, p in model.generator.named_parameters():
            assert p.grad is not None, f"no gradient reaches {name}"
        optimizer.step()
        optimizer.zero_grad()
    for name, buf in model.generator.named_buffers():
        assert not buf.requires_grad and buf.grad is None
        assert torch.equal(buf, frozen[name]), f"teacher tensor {name} changed"
    assert all(not p.requires_grad for p in model.skeleton.parameters())
    changed = [k for k, v in model.generator.named_parameters() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)
    assert generator_parameters(model) == sum(p.numel() for p in before.values())


def test_teacher_state_is_not_aliased():
    teacher = teacher_model()
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(dec_layers=1))
    with torch.no_grad():
        for buf in model.generator.buffers():
            buf.add_(1.0)
    assert not torch.equal(teacher.state_dict()["encoder.0.ffn.fc1.weight"],
                           model.generator.teacher_tensor("encoder.0.ffn.fc1.weight")[0])


def test_cutoff_with_teacher_shape_reproduces_teacher(batch):
    teacher = teacher_model()
    student = cutoff_student(teacher.state_dict(), teacher.cfg, teacher.cfg).eval()
    src, tgt = batch
    assert torch.equal(student(src, tgt), teacher(src, tgt))


def test_cutoff_takes_first_rows_and_top_layer_of_group():
    teacher = teacher_model()
    student = cutoff_student(teacher.state_dict(), teacher.cfg,
                             tiny(**SHAPES["stu1_narrow_decoder"]))
    t = teacher.state_dict()["decoder.2.ffn.fc1.weight"]
    assert torch.equal(student.state_dict()["decoder.0.ffn.fc1.weight"], t[:32, :16])
    assert torch.equal(student.state_dict()["output.weight"],
                       teacher.state_dict()["tgt_embed.weight"][:, :16])


@pytest.mark.parametrize("kind", ["encoder", "decoder", "attention", "ffn", "no_encoder",
                                  "no_decoder", "no_attention", "no_ffn"])
def test_partial_transfer_generates_one_kind_and_frees_the_rest(kind, batch):
    teacher = teacher_model()
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(**SHAPES["stu1_narrow_decoder"]),
                        transfer=kind)
    maps = dict(model.generator.maps.items())
    free = {k for k, m in maps.items() if isinstance(m, FreeMap)}
    expected_free = {k for k in maps if not transferred(k.replace("__", "."), kind)}
    assert free == expected_free and 0 < len(free) < len(maps)
    if kind == "attention":
        assert "decoder__0__cross_attn__k__weight" not in free
        assert "decoder__0__ffn__fc1__weight" in free
    if kind.startswith("no_"):  # leave-one-kind-out: exactly what the one kind alone takes
        only = {k for k in maps if transferred(k.replace("__", "."), kind.removeprefix("no_"))}
        assert free == only
    src, tgt = batch
    logits = model(src, tgt)
    logits.sum().backward()
    assert all(m.value.grad is not None for k, m in maps.items() if k in free)
    torch.testing.assert_close(model.export_student().eval()(src, tgt), model.eval()(src, tgt),
                               atol=1e-5, rtol=0)


def test_build_generator_reads_a_teacher_checkpoint(tmp_path):
    teacher = teacher_model()
    save_model(teacher, tmp_path / "teacher.pt", {})
    model = build_generator(tmp_path / "teacher.pt", tiny(dec_layers=1))
    state = model.student_state()
    assert set(state) == {n for n, _ in Transformer(tiny(dec_layers=1)).named_parameters()}
    # Element-wise encoder maps start at A * tanh(T) + B = tanh(T).
    torch.testing.assert_close(state["encoder.0.ffn.fc1.weight"],
                               torch.tanh(teacher.state_dict()["encoder.0.ffn.fc1.weight"]))


@pytest.mark.parametrize("dec_dim", [16, 32], ids=["narrower", "equal_width"])
def test_untied_output_is_linear_in_the_teacher_matrix_or_that_matrix_frozen(dec_dim, batch):
    """As released: an untied output projection is E_out P for a narrower student (no tanh, no
    per-token scale and shift) and the teacher's E_out itself, untrained, at equal width."""
    teacher = teacher_model(tie_output=False)
    e_out = teacher.state_dict()["output.weight"]
    student_cfg = tiny(dec_layers=1, dec_dim=dec_dim, dec_ffn=32, dec_heads=2, tie_output=False)
    model = Phase1Model(teacher.state_dict(), teacher.cfg, student_cfg)
    out_map = model.generator.maps["output__weight"]
    assert isinstance(out_map, OutputMap)
    generated = model.student_state()["output.weight"]
    if dec_dim == teacher.cfg.dec_dim:
        assert out_map.p_out is None and not list(out_map.parameters())
        assert torch.equal(generated, e_out)
        return
    torch.testing.assert_close(generated, e_out @ out_map.p_out, rtol=0, atol=1e-6)
    with torch.no_grad():  # linear: scaling the projection scales the matrix (tanh would not)
        out_map.p_out.mul_(40.0)
    torch.testing.assert_close(model.student_state()["output.weight"], 40.0 * generated,
                               rtol=1e-5, atol=1e-5)
    src, tgt = batch
    model(src, tgt).sum().backward()
    assert out_map.p_out.grad is not None and out_map.p_out.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["elementwise", "projected"])
def test_same_shape_decoder_layers_elementwise_or_projected_as_released(mode):
    """3 -> 2 decoder layers: the first student layer's group is one teacher layer of its own
    shape. The release projects it like any other (its decoder differs from the teacher's)."""
    teacher = teacher_model()
    maps = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(dec_layers=2),
                       same_shape_layers=mode).generator.maps
    first, second = maps["decoder__0__self_attn__q__weight"], maps["decoder__1__ffn__fc1__weight"]
    assert isinstance(first, ElementwiseMap if mode == "elementwise" else MatrixMap)
    assert isinstance(second, MatrixMap) and second.mix.shape == (2, 2)
    assert isinstance(maps["encoder__0__self_attn__q__weight"], ElementwiseMap)  # same encoder
    same = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(dec_layers=3),
                       same_shape_layers=mode).generator.maps  # the teacher's own shape
    assert isinstance(same["decoder__0__self_attn__q__weight"], ElementwiseMap)


def test_conversion_averages_generated_students_not_generators():
    teacher = teacher_model()
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(**SHAPES["stu1_narrow_decoder"]))
    states = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in model.generator.parameters():
                p.add_(0.3 * torch.randn_like(p))
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    one, two = (dict(model.export_student([s]).named_parameters()) for s in states)
    both = dict(model.export_student(states).named_parameters())
    name = "decoder.0.self_attn.q.weight"
    torch.testing.assert_close(both[name], (one[name] + two[name]) / 2)
    mean_generator = {k: (states[0][k] + states[1][k]) / 2 for k in states[0]}
    other = dict(model.export_student([mean_generator]).named_parameters())
    assert (other[name] - both[name]).abs().max() > 1e-3  # the map is nonlinear


@pytest.mark.parametrize("start, reference", [("cutoff", cutoff_student),
                                              ("select", selected_student)])
@pytest.mark.parametrize("name", [n for n in SHAPES if n != "deeper_student"])
@pytest.mark.parametrize("same_shape_layers", ["elementwise", "projected"])
def test_cutinit_starts_as_the_cut_off_student_up_to_tanh(start, reference, name,
                                                          same_shape_layers):
    """wd_cutinit / wd_selectinit: at step 0 every generated tensor is tanh of the cut-off (or
    selected) student's, within 1e-6; the linear output projection is that tensor within 1e-6;
    so the generated student is that student within |x|^3 / 3 elementwise (tanh's Taylor bound)."""
    teacher = teacher_model(tie_output=False)
    student_cfg = tiny(**{"tie_output": False, **SHAPES[name]})
    model = Phase1Model(teacher.state_dict(), teacher.cfg, student_cfg,
                        same_shape_layers=same_shape_layers, start=start)
    generated = model.student_state()
    made = dict(reference(teacher.state_dict(), teacher.cfg, student_cfg).named_parameters())
    assert generated.keys() == made.keys()
    for key, value in generated.items():
        want = made[key] if key == "output.weight" else torch.tanh(made[key])
        assert (value - want).abs().max() <= 1e-6, key
        assert ((value - made[key]).abs() <= made[key].abs() ** 3 / 3 + 1e-6).all(), key


def test_an_unknown_generator_start_is_refused():
    teacher = teacher_model()
    with pytest.raises(ValueError, match="unknown generator start 'pruned'"):
        Phase1Model(teacher.state_dict(), teacher.cfg, teacher.cfg, start="pruned")


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("init", ["cutoff", "select", "prune", "embeddings"])
def test_a_teachers_output_bias_reaches_every_initialisation(init, shared):
    """An imported MarianMT teacher has a bias on its logits (and OPUS-MT's one embedding table
    for both sides, which a narrower decoder cannot share); a student of its shape family gets
    the teacher's bias (the vocabulary is the same), and WD's generator maps it."""
    import random

    from wd.model.inits import INITS
    teacher = teacher_model(output_bias=True, activation="swish", positions="marian",
                            share_embeddings=shared)
    cfg = tiny(dec_layers=1, dec_dim=16, dec_ffn=32, dec_heads=2, output_bias=True,
               activation="swish", positions="marian", share_embeddings=False)
    rng = random.Random(0)
    sample = [([rng.randrange(4, 40) for _ in range(5)], [rng.randrange(4, 40) for _ in range(4)])
              for _ in range(8)]
    student = INITS[init].build(teacher.state_dict(), teacher.cfg, cfg, sample).state_dict()
    assert torch.equal(student["output_bias.bias"], teacher.state_dict()["output_bias.bias"])
    generated = Phase1Model(teacher.state_dict(), teacher.cfg, cfg).generator()
    assert generated["output_bias.bias"].shape == (cfg.vocab_size,)
