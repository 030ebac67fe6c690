"""Batched beam search with an incremental decoder (cached self-attention K/V, cross-attention
K/V computed once), fairseq-style length penalty, finished sentences dropped from the batch, and
batches sorted by source length then restored to input order. Greedy search is beam 1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from wd.data.batching import source_tensor
from wd.model.transformer import BOS_ID, EOS_ID, PAD_ID, Transformer


@dataclass(frozen=True)
class SearchSettings:
    beam: int = 4
    lenpen: float = 1.0
    max_len_a: float = 1.2
    max_len_b: int = 10
    batch_size: int = 64


@torch.no_grad()
def beam_search(model: Transformer, src: Tensor, s: SearchSettings) -> list[list[int]]:
    """Best hypothesis (token ids, no EOS) for each row of ``src``.

    A hypothesis ends at EOS; its score is the summed log-probability divided by
    ``length ** lenpen`` (length counts the EOS). A sentence is finished when it holds ``beam``
    ended hypotheses, or when its maximum length ``max_len_a * src_len + max_len_b`` is reached.
    """
    k, n = s.beam, src.size(0)
    device = src.device
    src_len = (src != PAD_ID).sum(1)
    max_len = (s.max_len_a * src_len.float() + s.max_len_b).long().clamp(min=1)
    memory, mask = model.encode(src)
    rows = torch.arange(n, device=device).repeat_interleave(k)
    state = model.start_decoding(memory.index_select(0, rows), mask.index_select(0, rows))
    tokens = torch.full((n * k, 1), BOS_ID, dtype=torch.long, device=device)
    scores = torch.full((n, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    active = torch.arange(n, device=device)  # original sentence index of each live sentence
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]

    for step in range(int(max_len.max())):
        live = active.numel()
        logp = torch.log_softmax(model.decode_step(tokens[:, -1:], state).float(), dim=-1)
        logp[:, PAD_ID] = logp[:, BOS_ID] = float("-inf")
        vocab = logp.size(-1)
        logp = logp.view(live, k, vocab)
        at_limit = step + 1 >= max_len[active]
        if at_limit.any():  # only EOS may follow at the length limit
            eos_column = logp[at_limit, :, EOS_ID].clone()
            logp[at_limit] = float("-inf")
            logp[at_limit, :, EOS_ID] = eos_column
        cand_scores, cand = (scores.unsqueeze(2) + logp).view(live, k * vocab).topk(2 * k, dim=1)
        cand_beam, cand_token = cand // vocab, cand % vocab
        is_eos = cand_token == EOS_ID

        # Hypotheses ending among the k best candidates are final.
        ended = (is_eos[:, :k] & torch.isfinite(cand_scores[:, :k])).nonzero().tolist()
        if ended:
            ended_scores = cand_scores.cpu()
            for i, j in ended:
                sentence = int(active[i])
                if len(finished[sentence]) < k:
                    hyp = tokens[i * k + int(cand_beam[i, j]), 1:].tolist()
                    finished[sentence].append(
                        (float(ended_scores[i, j]) / (step + 1) ** s.lenpen, hyp))

        # The k best non-EOS candidates continue.
        next_scores, pick = cand_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=1)
        base = torch.arange(live, device=device).unsqueeze(1) * k
        parent = (base + cand_beam.gather(1, pick)).view(-1)
        tokens = torch.cat([tokens.index_select(0, parent), cand_token.gather(1, pick).view(-1, 1)], 1)
        scores = next_scores

        done = torch.tensor([len(finished[int(a)]) >= k for a in active], device=device) | at_limit
        if done.all():
            break
        if done.any():  # drop finished sentences from every tensor of the search
            keep = (~done).nonzero().view(-1)
            keep_rows = (keep.unsqueeze(1) * k + torch.arange(k, device=device)).view(-1)
            tokens, scores, active = tokens.index_select(0, keep_rows), scores[keep], active[keep]
            model.reorder_state(state, parent.index_select(0, keep_rows), cross_rows=keep_rows)
        else:
            model.reorder_state(state, parent)
    return [max(hyps, key=lambda h: h[0])[1] if hyps else [] for hyps in finished]


def _length_sorted_batches(sources: list[list[int]], size: int) -> Iterator[list[int]]:
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for start in range(0, len(order), size):
        yield order[start:start + size]


@torch.no_grad()
def translate(model: Transformer, sources: list[list[int]], s: SearchSettings,
              device: torch.device) -> list[list[int]]:
    """Translate token-id sources in length-sorted batches; output in input order."""
    model.eval()
    out: list[list[int]] = [[] for _ in sources]
    for idx in _length_sorted_batches(sources, s.batch_size):
        hyps = beam_search(model, source_tensor([sources[i] for i in idx]).to(device), s)
        for i, hyp in zip(idx, hyps):
            out[i] = hyp
    return out
