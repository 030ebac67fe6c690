"""Encoder-decoder Transformer (Vaswani et al. 2017) in one readable file.

Conventions: batch-first tensors ``(batch, time, dim)``; weight matrices ``(out, in)`` as in
``nn.Linear``. Every attention projection is its own ``nn.Linear`` (q, k, v, out) because the
weight-distillation generator maps each matrix kind separately. The decoder may be narrower than
the encoder: cross-attention keys/values are projected from the encoder width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wd.model.kernels import attention_with_dropout, dropout, linear_concat, relu_dropout
from wd.model.names import parse
from wd.settings import ModelConfig
from wd.vocab import PAD_ID


def sinusoidal_positions(length: int, dim: int, offset: int = 0, device=None,
                         layout: str = "fairseq") -> Tensor:
    """Fixed position encodings, sin half then cos half: fairseq's frequencies, or with
    ``layout="marian"`` MarianMT's (computed in float64 as transformers does, then float32)."""
    half = dim // 2
    if layout == "marian":
        if dim % 2:
            raise ValueError(f"MarianMT positions need an even width, not {dim}")
        freqs = 10000.0 ** (-2 * torch.arange(half, dtype=torch.float64, device=device) / dim)
        pos = torch.arange(offset, offset + length, dtype=torch.float64, device=device)
        angles = pos[:, None] * freqs[None, :]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()
    scale = math.log(10000.0) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * -scale)
    pos = torch.arange(offset, offset + length, dtype=torch.float32, device=device)
    angles = pos[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = F.pad(table, (0, 1))
    return table


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v/out projections (the generator maps each matrix
    kind on its own); keys/values may come from a wider memory (``kv_dim``)."""

    def __init__(self, dim: int, kv_dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim, dim)
        self.v = nn.Linear(kv_dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None, causal: bool = False,
                kv: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Self-attention of ``x`` (batch, time, dim), or, given ``kv`` (keys and values of the
        memory, each (batch, heads, src_time, head_dim)), cross-attention to them."""
        b, t, d = x.shape
        if kv is None:  # q, k and v from one matrix product
            qkv = linear_concat(x, (self.q, self.k, self.v))  # (b, t, 3 * d)
            qkv = qkv.view(b, t, 3, self.heads, d // self.heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (b, heads, t, head_dim)
        else:
            q = self.q(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
            k, v = kv
        p = self.dropout if self.training else 0.0
        if p and q.device.type == "cpu":  # sdpa would draw its dropout mask with bernoulli_
            y = attention_with_dropout(q, k, v, mask, causal, p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                               is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(b, t, d))  # heads merged: (b, t, d)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float, activation: str = "relu"):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout, self.activation = dropout, activation

    def forward(self, x: Tensor) -> Tensor:
        if self.activation == "swish":
            return self.fc2(dropout(F.silu(self.fc1(x)), self.dropout, self.training))
        return self.fc2(relu_dropout(self.fc1(x), self.dropout, self.training))


class Sublayer(nn.Module):
    """The residual connection around a block, with LayerNorm before the block (pre-norm:
    ``x + block(norm(x))``) or after the sum (post-norm: ``norm(x + block(x))``):
    ``sub(x, block(sub.pre(x)))``."""

    def __init__(self, dim: int, dropout: float, pre_norm: bool):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.dropout, self.pre_norm = dropout, pre_norm

    def pre(self, x: Tensor) -> Tensor:
        return self.norm(x) if self.pre_norm else x

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x = x + dropout(y, self.dropout, self.training)
        return x if self.pre_norm else self.norm(x)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.enc_dim
        self.self_attn = Attention(d, d, cfg.enc_heads, cfg.attention_p)
        self.self_attn_sub = Sublayer(d, cfg.dropout, cfg.pre_norm)
        self.ffn = FeedForward(d, cfg.enc_ffn, cfg.activation_p, cfg.activation)
        self.ffn_sub = Sublayer(d, cfg.dropout, cfg.pre_norm)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.self_attn_sub(x, self.self_attn(self.self_attn_sub.pre(x), mask))
        return self.ffn_sub(x, self.ffn(self.ffn_sub.pre(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.dec_dim
        self.self_attn = Attention(d, d, cfg.dec_heads, cfg.attention_p)
        self.self_attn_sub = Sublayer(d, cfg.dropout, cfg.pre_norm)
        self.cross_attn = Attention(d, cfg.enc_dim, cfg.dec_heads, cfg.attention_p)
        self.cross_attn_sub = Sublayer(d, cfg.dropout, cfg.pre_norm)
        self.ffn = FeedForward(d, cfg.dec_ffn, cfg.activation_p, cfg.activation)
        self.ffn_sub = Sublayer(d, cfg.dropout, cfg.pre_norm)

    def forward(self, x: Tensor, cross_kv: tuple[Tensor, Tensor], src_mask: Tensor) -> Tensor:
        """Full-sequence decoding (training, scoring); inference steps use
        :class:`wd.decode.incremental.IncrementalDecoder`."""
        x = self.self_attn_sub(x, self.self_attn(self.self_attn_sub.pre(x), causal=True))
        x = self.cross_attn_sub(x, self.cross_attn(self.cross_attn_sub.pre(x), src_mask,
                                                   kv=cross_kv))
        return self.ffn_sub(x, self.ffn(self.ffn_sub.pre(x)))


class OutputBias(nn.Module):
    """The bias of the output logits (``output_bias.bias``), apart from the output matrix so
    that a tied output can have one too."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab_size))


class Transformer(nn.Module):
    """Encoder-decoder with sinusoidal positions and (optionally tied) embeddings."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(cfg.vocab_size, cfg.enc_dim, padding_idx=PAD_ID)
        self.tgt_embed = self.src_embed if cfg.share_embeddings else nn.Embedding(
            cfg.vocab_size, cfg.dec_dim, padding_idx=PAD_ID)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.dec_layers))
        self.enc_norm = nn.LayerNorm(cfg.enc_dim) if cfg.pre_norm else None
        self.dec_norm = nn.LayerNorm(cfg.dec_dim) if cfg.pre_norm else None
        self.output = None if cfg.tie_output else nn.Linear(cfg.dec_dim, cfg.vocab_size, bias=False)
        self.output_bias = OutputBias(cfg.vocab_size) if cfg.output_bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """fairseq-style init: xavier-uniform matrices, zero biases, N(0, d^-1/2) embeddings."""
        for name, p in self.named_parameters():
            place = parse(name)
            if place.kind == "norm":
                continue
            if place.tensor == "bias":
                nn.init.zeros_(p)
            elif place.kind in ("embedding", "output"):
                nn.init.normal_(p, 0.0, p.shape[1] ** -0.5)
            else:
                nn.init.xavier_uniform_(p)
        with torch.no_grad():
            self.src_embed.weight[PAD_ID].zero_()
            self.tgt_embed.weight[PAD_ID].zero_()

    def embed(self, table: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        dim = table.embedding_dim
        pos = sinusoidal_positions(tokens.size(1), dim, offset, tokens.device,
                                   self.cfg.positions)
        x = table(tokens) * math.sqrt(dim) + pos.to(table.weight.dtype)
        return dropout(x, self.cfg.dropout, self.training)

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Return encoder states and the attention mask (True = real token) for the sources."""
        mask = (src != PAD_ID)[:, None, None, :]
        x = self.embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, mask)
        if self.enc_norm is not None:  # pre-norm: the stack's output is normalised once
            x = self.enc_norm(x)
        return x, mask

    def project(self, x: Tensor) -> Tensor:
        if self.dec_norm is not None:
            x = self.dec_norm(x)
        weight = self.tgt_embed.weight if self.output is None else self.output.weight
        return F.linear(x, weight, None if self.output_bias is None else self.output_bias.bias)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits ``(batch, tgt_len, vocab)``."""
        memory, mask = self.encode(src)
        x = self.embed(self.tgt_embed, tgt_in)
        for layer, kv in zip(self.decoder, self.cross_kv(memory)):
            x = layer(x, kv, mask)
        return self.project(x)

    def cross_kv(self, memory: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Cross-attention keys and values of every decoder layer, from one matrix product."""
        b, s, _ = memory.shape
        heads = self.cfg.dec_heads
        kv = linear_concat(memory, [m for layer in self.decoder
                                    for m in (layer.cross_attn.k, layer.cross_attn.v)])
        kv = kv.view(b, s, 2 * len(self.decoder), heads, self.cfg.dec_dim // heads)
        kv = kv.permute(2, 0, 3, 1, 4).unbind(0)  # 2 * layers of (b, heads, s, head_dim)
        return list(zip(kv[0::2], kv[1::2]))


def count_parameters(model: nn.Module) -> int:
    """Distinct trainable parameters (tied tensors counted once)."""
    return sum(p.numel() for p in model.parameters())
