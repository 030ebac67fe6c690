"""Inference-only incremental decoder: the Transformer's decoder weights packed for fast steps.

Decoding spends its time in many small matrix products, one target position at a time. This module
packs the decoder once per :func:`wd.decode.search.translate` call so each step is a handful of
large kernels: q/k/v of self-attention fused into one matrix, weights stored pre-transposed for
``addmm`` (or as int8 fbgemm packs, :mod:`wd.decode.quantize`), self-attention keys/values written
into preallocated caches, cross-attention keys/values computed once per sentence and shared by its
beams (the beams are the queries of one attention call), and a sinusoidal position table computed
once.

Rows of the decoder state are sentence-major: ``rows = sentences x width``, where ``width`` is 1
at the first step and the beam size afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wd.decode.quantize import int8_pack
from wd.model.transformer import Transformer, sinusoidal_positions


def _onednn_available(device: torch.device) -> bool:
    return (device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


class PackedLinear:
    """``y = x W^T + b`` (then ReLU if ``relu``) for 2-D ``x``. On CPU, fp32 goes through
    oneDNN's linear (on an AVX2 EPYC it ran the 32k-vocabulary output projection 1.5x and the FFN
    up to 1.8x faster than MKL's ``addmm`` at decoding batch sizes, and fuses the ReLU); elsewhere
    ``addmm`` on a pre-transposed weight; with ``int8``, an fbgemm int8 pack with dynamic
    activation quantisation."""

    def __init__(self, weight: Tensor, bias: Tensor | None, int8: bool, relu: bool = False):
        self.int8, self.relu = int8, relu
        self.onednn = not int8 and _onednn_available(weight.device)
        if bias is None:
            bias = weight.new_zeros(weight.size(0))
        self.bias = bias.detach().clone()
        if int8:
            self.packed = int8_pack(weight, bias)
        elif self.onednn:
            self.weight = weight.detach().contiguous()
        else:
            self.weight_t = weight.detach().t().contiguous()

    def __call__(self, x: Tensor) -> Tensor:
        if self.int8:
            op = torch.ops.quantized.linear_relu_dynamic if self.relu else \
                torch.ops.quantized.linear_dynamic
            return op(x, self.packed, True)
        if self.onednn:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias,
                                                      "relu" if self.relu else "none", [], "")
        y = torch.addmm(self.bias, x, self.weight_t)
        return y.relu_() if self.relu else y


def _pack(*layers: nn.Linear, int8: bool, relu: bool = False, scale: float = 1.0) -> PackedLinear:
    """One packed matrix for ``layers`` that share their input (concatenated outputs), its
    output multiplied by ``scale``."""
    weight = torch.cat([layer.weight.detach() for layer in layers]).float() * scale
    bias = torch.cat([layer.bias.detach() for layer in layers]).float() * scale
    return PackedLinear(weight, bias, int8, relu)


@dataclass
class _Norm:
    weight: Tensor
    bias: Tensor
    eps: float

    def __call__(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)


class _Layer:
    """One decoder layer's packed weights and its step: self-attention of the new position to
    the cached ones, cross-attention to the sentence's source, feed-forward."""

    def __init__(self, layer: nn.Module, pre_norm: bool, int8: bool):
        heads = layer.self_attn.heads
        self.heads, self.head_dim = heads, layer.self_attn.q.out_features // heads
        self.self_qkv = _pack(layer.self_attn.q, layer.self_attn.k, layer.self_attn.v, int8=int8)
        self.self_out = _pack(layer.self_attn.out, int8=int8)
        # 1/sqrt(head_dim) folded into the query projection: cross-attention is two matmuls
        self.cross_q = _pack(layer.cross_attn.q, int8=int8, scale=self.head_dim ** -0.5)
        self.cross_kv = _pack(layer.cross_attn.k, layer.cross_attn.v, int8=int8)
        self.cross_out = _pack(layer.cross_attn.out, int8=int8)
        relu = layer.ffn.activation == "relu"  # fused into the matrix product; swish after it
        self.fc1 = _pack(layer.ffn.fc1, int8=int8, relu=relu)
        self.activation = (lambda h: h) if relu else F.silu
        self.fc2 = _pack(layer.ffn.fc2, int8=int8)
        self.norms = [_Norm(sub.norm.weight.detach(), sub.norm.bias.detach(), sub.norm.eps)
                      for sub in (layer.self_attn_sub, layer.cross_attn_sub, layer.ffn_sub)]
        self.pre_norm = pre_norm

    def step(self, x: Tensor, t: int, cache: list[Tensor], cross: tuple[Tensor, Tensor],
             cross_mask: Tensor, width: int) -> Tensor:
        """The layer's output for position ``t`` of each row of ``x`` (rows, dim)."""
        self_norm, cross_norm, ffn_norm = self.norms
        if self.pre_norm:
            x = x + self.self_attention(self_norm(x), t, cache)
            x = x + self.cross_attention(cross_norm(x), cross, cross_mask, width)
            return x + self.fc2(self.activation(self.fc1(ffn_norm(x))))
        x = self_norm(x + self.self_attention(x, t, cache))
        x = cross_norm(x + self.cross_attention(x, cross, cross_mask, width))
        return ffn_norm(x + self.fc2(self.activation(self.fc1(x))))

    def self_attention(self, h: Tensor, t: int, cache: list[Tensor]) -> Tensor:
        rows = h.size(0)
        qkv = self.self_qkv(h).view(rows, 3, self.heads, self.head_dim)
        k_cache, v_cache = cache[0][:rows], cache[1][:rows]
        k_cache[:, :, t] = qkv[:, 1]
        v_cache[:, :, t] = qkv[:, 2]
        y = F.scaled_dot_product_attention(
            qkv[:, 0].unsqueeze(2), k_cache[:, :, : t + 1], v_cache[:, :, : t + 1])
        return self.self_out(y.view(rows, -1))

    def cross_attention(self, h: Tensor, cross: tuple[Tensor, Tensor], cross_mask: Tensor,
                        width: int) -> Tensor:
        # The beams of a sentence are the queries of one attention call: two matmuls (on CPU,
        # sdpa with a padding mask took ~3x longer for a few queries against the source).
        rows = h.size(0)
        ck, cv = cross
        q = self.cross_q(h).view(rows // width, width, self.heads, self.head_dim)
        scores = torch.matmul(q.transpose(1, 2), ck).add_(cross_mask)
        y = torch.matmul(torch.softmax(scores, dim=-1), cv)
        return self.cross_out(y.transpose(1, 2).reshape(rows, -1))


@dataclass
class DecoderState:
    """Everything one batch's search keeps between steps (see :class:`IncrementalDecoder`)."""

    step: int
    width: int                 # rows per sentence: 1 before the first step, beam afterwards
    cross: list[tuple[Tensor, Tensor]]   # per layer keys transposed (sentences, heads,
    #                                      head_dim, src_len) and values (..., src_len, head_dim)
    cross_mask: Tensor         # (sentences, 1, 1, src_len) additive: 0 or -inf
    caches: list[list[Tensor]]  # per layer [k, v], each (rows_capacity, heads, steps, head_dim)
    spare: list[list[Tensor]]   # same shapes: reordering writes here, then the two swap


class IncrementalDecoder:
    """Step-by-step decoder of one :class:`Transformer`, packed for inference (no gradients, no
    dropout). With ``int8`` every decoder matrix, the output projection included, is int8
    (CPU only; see :mod:`wd.decode.quantize`). The packed weights are copies: changing the model
    afterwards does not change them."""

    def __init__(self, model: Transformer, int8: bool = False):
        cfg = model.cfg
        if int8 and model.tgt_embed.weight.device.type != "cpu":
            raise ValueError("int8 decoding is CPU-only: use device cpu or turn int8 off")
        self.cfg = cfg
        self.layers = [_Layer(layer, cfg.pre_norm, int8) for layer in model.decoder]
        self.final_norm = None if model.dec_norm is None else _Norm(
            model.dec_norm.weight.detach(), model.dec_norm.bias.detach(), model.dec_norm.eps)
        self.embedding = model.tgt_embed.weight.detach()
        self.scale = math.sqrt(cfg.dec_dim)
        out = self.embedding if model.output is None else model.output.weight.detach()
        bias = None if model.output_bias is None else model.output_bias.bias.detach().float()
        self.output = PackedLinear(out.float(), bias, int8)
        self.heads, self.head_dim = cfg.dec_heads, cfg.dec_dim // cfg.dec_heads
        self.positions = torch.zeros(0, cfg.dec_dim)

    @torch.no_grad()
    def start(self, memory: Tensor, mask: Tensor, beam: int, max_steps: int) -> DecoderState:
        """State for ``memory`` (encoder output, one row per sentence) and its padding ``mask``
        ``(sentences, 1, 1, src_len)``; the caches hold ``max_steps`` positions of ``beam`` rows
        per sentence."""
        n, src_len, _ = memory.shape
        if self.positions.size(0) < max_steps:
            self.positions = sinusoidal_positions(max_steps, self.cfg.dec_dim,
                                                  layout=self.cfg.positions).to(memory.device)
        flat = memory.reshape(n * src_len, -1)
        cross = []
        for layer in self.layers:
            kv = layer.cross_kv(flat).view(n, src_len, 2, self.heads, self.head_dim)
            kv = kv.permute(2, 0, 3, 1, 4)
            cross.append((kv[0].transpose(2, 3).contiguous(), kv[1].contiguous()))
        additive = torch.zeros(mask.shape, device=memory.device).masked_fill(~mask, float("-inf"))
        shape = (n * beam, self.heads, max_steps, self.head_dim)

        def buffers() -> list[list[Tensor]]:
            return [[memory.new_empty(shape), memory.new_empty(shape)] for _ in self.layers]

        return DecoderState(0, 1, cross, additive, buffers(), buffers())

    @torch.no_grad()
    def step(self, tokens: Tensor, state: DecoderState) -> Tensor:
        """Logits ``(rows, vocab)`` for the next token after ``tokens`` ``(rows,)``."""
        t = state.step
        x = self.embedding.index_select(0, tokens) * self.scale + self.positions[t]
        for layer, cross, cache in zip(self.layers, state.cross, state.caches):
            x = layer.step(x, t, cache, cross, state.cross_mask, state.width)
        state.step += 1
        if self.final_norm is not None:
            x = self.final_norm(x)
        return self.output(x)

    @staticmethod
    @torch.no_grad()
    def reorder(state: DecoderState, parent: Tensor, width: int,
                keep_sentences: Tensor | None = None) -> None:
        """Make row ``i`` continue row ``parent[i]`` (rows now ``width`` per sentence); when
        sentences leave, ``keep_sentences`` selects the cross-attention entries that stay."""
        rows, t = parent.numel(), state.step
        for cache, spare in zip(state.caches, state.spare):
            for src, dst in zip(cache, spare):
                torch.index_select(src[:, :, :t], 0, parent, out=dst[:rows, :, :t])
        state.caches, state.spare = state.spare, state.caches
        state.width = width
        if keep_sentences is not None:
            state.cross_mask = state.cross_mask.index_select(0, keep_sentences)
            state.cross = [(k.index_select(0, keep_sentences), v.index_select(0, keep_sentences))
                           for k, v in state.cross]
