"""The loss kernels (wd.train.losses names them): label-smoothed cross-entropy with a hand-written
backward, for the output layer's big tensors, and word-level distillation.

The logits of a training batch are ``tokens x vocabulary`` (4096 x 16000 floats, 262 MB, for a
Transformer-base batch); autograd's backward of ``F.cross_entropy`` with label smoothing fills a
zero tensor of that size, scatters the targets into it, adds the smoothing term and only then
runs the log-softmax backward: about 1 s of a 15 s step on two AVX2 cores. The gradient has a
closed form, ``softmax - (1 - eps) * onehot(target) - eps / vocab`` per non-padding row, which
the backward below writes into the saved log-probabilities in three passes. The same pass gives
the NLL, so the logged NLL costs no second log-softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, smoothing: float, ignore_index: int):
        lprobs = F.log_softmax(logits, dim=-1)
        padding = (target == ignore_index).unsqueeze(1)
        column = target.unsqueeze(1)
        nll = -lprobs.gather(1, column).masked_fill_(padding, 0.0).sum()
        uniform = -lprobs.sum(1, keepdim=True).masked_fill_(padding, 0.0).sum()
        loss = (1.0 - smoothing) * nll + smoothing / lprobs.size(1) * uniform
        ctx.save_for_backward(lprobs, column, padding)
        ctx.smoothing = smoothing
        ctx.mark_non_differentiable(nll)
        return loss, nll

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_nll: Tensor):
        lprobs, column, padding = ctx.saved_tensors
        eps = ctx.smoothing
        grad = lprobs.exp_()  # the saved log-probabilities become the gradient: backward runs once
        grad.sub_(eps / grad.size(1))
        grad.scatter_add_(1, column, grad.new_full(column.shape, eps - 1.0))
        grad.masked_fill_(padding, 0.0)
        return grad.mul_(grad_loss), None, None, None


def smoothed_cross_entropy(logits: Tensor, target: Tensor, smoothing: float,
                           ignore_index: int) -> tuple[Tensor, Tensor]:
    """Summed label-smoothed loss (``F.cross_entropy``'s definition: the smoothing mass spread
    over the whole vocabulary) and summed NLL (no gradient) of ``logits`` ``(rows, vocab)``
    against ``target`` ``(rows,)``; rows whose target is ``ignore_index`` count nothing.
    The graph may be backpropagated once (its saved tensor becomes the gradient)."""
    return _SmoothedCrossEntropy.apply(logits, target, smoothing, ignore_index)


def word_kd_loss(logits: Tensor, teacher_logits: Tensor, target: Tensor, temperature: float,
                 ignore_index: int) -> Tensor:
    """Summed word-level distillation loss (Hinton et al. 2015; Kim and Rush 2016's word-level
    KD): ``T^2 * KL(softmax(teacher / T) || softmax(student / T))`` per non-padding row of
    ``logits`` ``(rows, vocab)``; the teacher's logits carry no gradient. ``T^2`` keeps the
    gradient's scale independent of the temperature."""
    keep = target != ignore_index
    wide = torch.promote_types(logits.dtype, torch.float32)  # bf16 logits: softmax in fp32
    student = F.log_softmax(logits[keep].to(wide) / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits[keep].detach().to(wide) / temperature, dim=-1)
    kl = F.kl_div(student, teacher, log_target=True, reduction="sum")
    return kl * temperature ** 2
