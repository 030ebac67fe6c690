"""Batched beam search with an incremental decoder (:mod:`wd.model.incremental`: packed weights,
preallocated self-attention caches, cross-attention K/V computed once per sentence),
fairseq-style length penalty, finished sentences dropped from the batch, and batches sorted by
source length then restored to input order. Greedy search is beam 1.

The bookkeeping of finished hypotheses is tensor code (no per-sentence Python loop per step),
and the first step runs one row per sentence since all beams start equal.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from wd.data.batching import source_tensor
from wd.memory import keep_freed_memory
from wd.model.incremental import IncrementalDecoder
from wd.model.transformer import Transformer
from wd.settings import SearchSettings
from wd.vocab import BOS_ID, EOS_ID, PAD_ID


@torch.inference_mode()
def beam_search(model: Transformer | IncrementalDecoder, src: Tensor, s: SearchSettings,
                encoder: Transformer | None = None) -> list[list[int]]:
    """Best hypothesis (token ids, no EOS) for each row of ``src``.

    A hypothesis ends at EOS; its score is the summed log-probability divided by
    ``length ** lenpen`` (length counts the EOS). A sentence is finished when it holds ``beam``
    ended hypotheses, or when its maximum length ``max_len_a * src_len + max_len_b`` is reached.
    ``model`` may be a packed decoder; then ``encoder`` is the model that encodes ``src``.
    """
    if isinstance(model, IncrementalDecoder):
        if encoder is None:
            raise ValueError("beam_search with a packed decoder needs the encoder model")
        decoder = model
    else:
        decoder, encoder = IncrementalDecoder(model, int8=s.int8), model
    k, n, device = s.beam, src.size(0), src.device
    src_len = (src != PAD_ID).sum(1)
    max_len = (s.max_len_a * src_len.float() + s.max_len_b).long().clamp(min=1)
    steps = int(max_len.max())
    memory, mask = encoder.encode(src)
    state = decoder.start(memory, mask, k, steps)

    tokens = torch.full((n, steps + 1), BOS_ID, dtype=torch.long, device=device)  # per row
    scores = torch.zeros(n, 1, device=device)          # (live, width)
    active = torch.arange(n, device=device)             # original index of each live sentence
    fin_scores = torch.full((n, k), float("-inf"), device=device)
    fin_tokens = torch.full((n, k, steps), PAD_ID, dtype=torch.long, device=device)
    fin_len = torch.zeros(n, k, dtype=torch.long, device=device)
    fin_count = torch.zeros(n, dtype=torch.long, device=device)
    slots = torch.arange(k, device=device)

    for step in range(steps):
        live, width = scores.shape
        logp = decoder.step(tokens[:, step], state).float()
        torch.log_softmax(logp, dim=-1, out=logp)  # in place: one pass over the vocabulary
        logp[:, PAD_ID] = logp[:, BOS_ID] = float("-inf")
        if step < s.min_len:
            logp[:, EOS_ID] = float("-inf")
        vocab = logp.size(-1)
        at_limit = step + 1 >= max_len[active]
        if step + 1 >= int(max_len[active].min()):  # only EOS may follow at the length limit
            limited = logp.view(live, width, vocab)
            eos_column = limited[:, :, EOS_ID].clone()
            limited[at_limit] = float("-inf")
            limited[:, :, EOS_ID] = eos_column
        # The 2k best tokens of each row hold the 2k best continuations of the sentence, so
        # hypothesis scores are added to those only, not to a vocabulary-sized tensor.
        row_logp, row_token = logp.topk(min(2 * k, vocab), dim=1)
        per_row = row_token.size(1)
        row_scores = row_logp.view(live, width, per_row) + scores.unsqueeze(2)
        cand_scores, cand = row_scores.view(live, -1).topk(min(2 * k, width * per_row), dim=1)
        cand_beam = cand // per_row
        cand_token = row_token.view(live, -1).gather(1, cand)
        is_eos = cand_token == EOS_ID

        # Hypotheses ending among the k best candidates are final, in candidate order, while
        # their sentence has fewer than k.
        ended = is_eos[:, :k] & torch.isfinite(cand_scores[:, :k])
        slot = fin_count[active].unsqueeze(1) + ended.cumsum(1) - 1
        store = ended & (slot < k)
        if bool(store.any()):
            i, j = store.nonzero(as_tuple=True)
            sentence, position = active[i], slot[i, j]
            fin_scores[sentence, position] = cand_scores[i, j] / (step + 1) ** s.lenpen
            fin_tokens[sentence, position, :step] = tokens[i * width + cand_beam[i, j], 1:step + 1]
            fin_len[sentence, position] = step
            fin_count.index_add_(0, sentence, torch.ones_like(sentence))

        # The k best non-EOS candidates continue.
        next_scores, pick = cand_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=1)
        parent = (torch.arange(live, device=device).unsqueeze(1) * width
                  + cand_beam.gather(1, pick)).view(-1)
        tokens = tokens.index_select(0, parent)
        tokens[:, step + 1] = cand_token.gather(1, pick).view(-1)
        scores = next_scores

        done = (fin_count[active] >= k) | at_limit
        if bool(done.all()):
            break
        if bool(done.any()):  # drop finished sentences from every tensor of the search
            keep = (~done).nonzero().view(-1)
            keep_rows = (keep.unsqueeze(1) * k + slots).view(-1)
            tokens, scores, active = tokens[keep_rows], scores[keep], active[keep]
            decoder.reorder(state, parent.index_select(0, keep_rows), k, keep)
        elif k > 1:  # with one beam every row continues itself: nothing to reorder
            decoder.reorder(state, parent, k)

    best = fin_scores.argmax(1)
    rows = torch.arange(n, device=device)
    lengths, hyps = fin_len[rows, best].tolist(), fin_tokens[rows, best].tolist()
    found = torch.isfinite(fin_scores[rows, best]).tolist()
    return [h[:length] if ok else [] for h, length, ok in zip(hyps, lengths, found)]


def _length_sorted_batches(sources: list[list[int]], size: int) -> Iterator[list[int]]:
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for start in range(0, len(order), size):
        yield order[start:start + size]


@torch.inference_mode()
def translate_batches(model: Transformer, sources: list[list[int]], s: SearchSettings,
                      device: torch.device, skip: frozenset[int] = frozenset()
                      ) -> Iterator[tuple[list[int], list[list[int]]]]:
    """Source indices and hypotheses of each length-sorted batch in turn.

    Batches whose sentences are all in ``skip`` (translated before an interruption) are left out;
    the others are the same batches as in one uninterrupted pass, so they decode the same.
    """
    model.eval()
    keep_freed_memory()
    decoder = IncrementalDecoder(model, int8=s.int8)
    for idx in _length_sorted_batches(sources, s.batch_size):
        if skip.issuperset(idx):
            continue
        src = source_tensor([sources[i] for i in idx]).to(device)
        yield idx, beam_search(decoder, src, s, encoder=model)


def translate(model: Transformer, sources: list[list[int]], s: SearchSettings,
              device: torch.device) -> list[list[int]]:
    """Translate token-id sources in length-sorted batches; output in input order."""
    out: list[list[int]] = [[] for _ in sources]
    for idx, hyps in translate_batches(model, sources, s, device):
        for i, hyp in zip(idx, hyps):
            out[i] = hyp
    return out
