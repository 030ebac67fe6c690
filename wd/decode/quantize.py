"""int8 weights for CPU decoding: per-output-channel symmetric quantisation, packed for fbgemm's
dynamic int8 linear (activations quantised on the fly, per call).

Only the decoder is quantised (:class:`wd.decode.incremental.IncrementalDecoder` with ``int8``):
beam search spends nearly all its time there (every step, every beam), while the encoder runs
once per sentence and stays fp32. Evaluation reports the BLEU change (``evaluation.int8``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def int8_pack(weight: Tensor, bias: Tensor) -> torch.ScriptObject:
    """fbgemm pack of ``weight`` ``(out, in)`` quantised per row, for
    ``torch.ops.quantized.linear_dynamic``."""
    scales = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-8).double()
    zeros = torch.zeros(weight.size(0), dtype=torch.long)
    qweight = torch.quantize_per_channel(weight.float(), scales, zeros, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(qweight, bias.float())
