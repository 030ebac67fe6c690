"""The word-level distillation loss against a float64 reference, value and gradient."""
import math

import pytest
import torch

from wd.train.loss import word_kd_loss

PAD = 0


def reference(student, teacher, target, temperature):
    """Plain-Python sum over non-padding rows of T^2 * sum_v p_t(v) (log p_t(v) - log p_s(v))."""
    total = 0.0
    for row in range(student.shape[0]):
        if target[row] == PAD:
            continue
        s = [float(x) / temperature for x in student[row]]
        t = [float(x) / temperature for x in teacher[row]]
        log_zs = math.log(sum(math.exp(x) for x in s))
        log_zt = math.log(sum(math.exp(x) for x in t))
        total += sum(math.exp(b - log_zt) * ((b - log_zt) - (a - log_zs)) for a, b in zip(s, t))
    return total * temperature ** 2


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_word_kd_matches_a_float64_reference(temperature):
    g = torch.Generator().manual_seed(0)
    student = torch.randn(7, 11, generator=g, dtype=torch.float64, requires_grad=True)
    teacher = 3 * torch.randn(7, 11, generator=g, dtype=torch.float64)
    target = torch.tensor([3, 4, PAD, 5, 6, PAD, 7])
    loss = word_kd_loss(student, teacher, target, temperature, PAD)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(reference(student.detach(), teacher, target,
                                                  temperature), rel=1e-9, abs=1e-12)
    loss.backward()
    # d/ds of T^2 KL = T * (softmax(s / T) - softmax(t / T)) on kept rows, 0 on padding.
    expected = temperature * (torch.softmax(student.detach() / temperature, -1)
                              - torch.softmax(teacher / temperature, -1))
    expected[target == PAD] = 0.0
    torch.testing.assert_close(student.grad, expected, rtol=1e-9, atol=1e-12)


def test_identical_distributions_cost_nothing_and_the_teacher_gets_no_gradient():
    logits = torch.randn(4, 9, dtype=torch.float64)
    teacher = logits.clone().requires_grad_(True)
    student = logits.clone().requires_grad_(True)
    loss = word_kd_loss(student, teacher, torch.tensor([1, 2, 3, 4]), 1.0, PAD)
    assert abs(loss.item()) < 1e-12
    loss.backward()
    assert teacher.grad is None
