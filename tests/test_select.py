"""Weight selection: evenly spaced, consistent indices; the teacher's own shape copies it."""
import pytest
import torch

from conftest import tiny
from wd.model.inits.select import head_rows, selected_indices, selected_student, spaced
from wd.model.transformer import Transformer


def teacher_model() -> Transformer:
    torch.manual_seed(5)
    model = Transformer(tiny(enc_layers=2, dec_layers=3, tie_output=False, pre_norm=True)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_a_student_with_the_teachers_shape_is_the_teacher():
    teacher = teacher_model()
    student = selected_student(teacher.state_dict(), teacher.cfg, teacher.cfg)
    for name, tensor in teacher.state_dict().items():
        assert torch.equal(student.state_dict()[name], tensor), name


@pytest.mark.parametrize(("keep", "total", "expected"), [
    (3, 12, [0, 4, 8]), (2, 4, [0, 2]), (4, 4, [0, 1, 2, 3]), (3, 4, [0, 1, 2]), (1, 5, [0])])
def test_spaced_indices(keep, total, expected):
    assert spaced(keep, total) == expected


def test_whole_heads_when_the_head_width_is_kept():
    assert head_rows(2, 16, 4, 32) == [*range(0, 8), *range(16, 24)]  # heads 0 and 2 of 8 wide
    assert head_rows(2, 8, 4, 32) == spaced(8, 32)  # heads of 4: evenly spaced rows


def test_narrow_decoder_takes_the_same_residual_indices_everywhere():
    teacher = teacher_model()
    cfg = tiny(enc_layers=2, dec_layers=1, dec_dim=16, dec_ffn=32, dec_heads=2, tie_output=False,
               pre_norm=True)
    student = selected_student(teacher.state_dict(), teacher.cfg, cfg).state_dict()
    t = teacher.state_dict()
    model, ffn = spaced(16, 32), spaced(32, 64)
    assert model == list(range(0, 32, 2)) and ffn == list(range(0, 64, 2))
    heads = [*range(0, 8), *range(16, 24)]  # 2 of 4 heads, each 8 wide: heads 0 and 2
    assert selected_indices(teacher.cfg, cfg)["dec_heads"] == heads
    rows = torch.tensor
    top = "decoder.2."  # one student layer: the teacher's last
    expected = {
        "tgt_embed.weight": t["tgt_embed.weight"][:, model],
        "output.weight": t["output.weight"][:, model],
        "dec_norm.weight": t["dec_norm.weight"][model],
        "decoder.0.ffn_sub.norm.bias": t[top + "ffn_sub.norm.bias"][model],
        "decoder.0.ffn.fc1.weight": t[top + "ffn.fc1.weight"][rows(ffn)][:, model],
        "decoder.0.ffn.fc2.weight": t[top + "ffn.fc2.weight"][rows(model)][:, ffn],
        "decoder.0.self_attn.q.weight": t[top + "self_attn.q.weight"][rows(heads)][:, model],
        "decoder.0.self_attn.out.weight": t[top + "self_attn.out.weight"][rows(model)][:, heads],
        "decoder.0.cross_attn.k.weight": t[top + "cross_attn.k.weight"][rows(heads)],
        "decoder.0.cross_attn.v.bias": t[top + "cross_attn.v.bias"][heads],
        "encoder.1.ffn.fc1.weight": t["encoder.1.ffn.fc1.weight"],  # the encoder is kept whole
    }
    for name, tensor in expected.items():
        assert torch.equal(student[name], tensor), name


def test_a_wider_student_is_refused():
    teacher = teacher_model()
    with pytest.raises(ValueError, match="no larger than the teacher: dec_ffn 128 > 64"):
        selected_student(teacher.state_dict(), teacher.cfg,
                         tiny(dec_ffn=128, tie_output=False, pre_norm=True))


def test_embedding_transfer_keeps_the_teachers_embeddings_and_nothing_else():
    from wd.model.inits import INITS
    teacher = teacher_model()
    cfg = tiny(dec_layers=1, dec_dim=16, dec_ffn=32, dec_heads=2, tie_output=False, pre_norm=True)
    torch.manual_seed(5)
    random_student = Transformer(cfg).state_dict()
    torch.manual_seed(5)
    student = INITS["embeddings"].build(teacher.state_dict(), teacher.cfg, cfg, []).state_dict()
    t = teacher.state_dict()
    assert torch.equal(student["src_embed.weight"], t["src_embed.weight"])
    assert torch.equal(student["tgt_embed.weight"], t["tgt_embed.weight"][:, :16])
    assert torch.equal(student["output.weight"], t["output.weight"][:, :16])
    rest = [k for k in student if "embed" not in k and k != "output.weight"]
    assert rest and all(torch.equal(student[k], random_student[k]) for k in rest)
