"""Batched beam search with an incremental decoder (:mod:`wd.decode.incremental`: packed weights,
preallocated self-attention caches, cross-attention K/V computed once per sentence),
fairseq-style length penalty, finished sentences dropped from the batch, and batches sorted by
source length then restored to input order. Greedy search is beam 1.

The bookkeeping of finished hypotheses is tensor code (no per-sentence Python loop per step),
and the first step runs one row per sentence since all beams start equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from wd.data.batching import source_tensor
from wd.data.shortlist import Shortlist
from wd.decode.incremental import IncrementalDecoder
from wd.memory import keep_freed_memory
from wd.model.transformer import Transformer
from wd.settings import SearchSettings
from wd.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID


class _Finished:
    """The ended hypotheses of every sentence: at most ``k`` each, in the order they ended,
    with their length-normalised scores."""

    def __init__(self, n: int, k: int, steps: int, device: torch.device):
        self.k = k
        self.scores = torch.full((n, k), float("-inf"), device=device)
        self.tokens = torch.full((n, k, steps), PAD_ID, dtype=torch.long, device=device)
        self.length = torch.zeros(n, k, dtype=torch.long, device=device)
        self.count = torch.zeros(n, dtype=torch.long, device=device)

    def add(self, ended: Tensor, cand_scores: Tensor, cand_rows: Tensor, tokens: Tensor,
            active: Tensor, step: int, lenpen: float) -> None:
        """Store the candidates ``ended`` (live, k) while their sentence has fewer than k; a
        candidate's tokens before EOS are those of its row ``cand_rows`` of ``tokens``."""
        slot = self.count[active].unsqueeze(1) + ended.cumsum(1) - 1
        store = ended & (slot < self.k)
        if not bool(store.any()):
            return
        i, j = store.nonzero(as_tuple=True)
        sentence, position = active[i], slot[i, j]
        self.scores[sentence, position] = cand_scores[i, j] / (step + 1) ** lenpen
        self.tokens[sentence, position, :step] = tokens[cand_rows[i, j], 1:step + 1]
        self.length[sentence, position] = step
        self.count.index_add_(0, sentence, torch.ones_like(sentence))

    def best(self) -> list[list[int]]:
        """The best ended hypothesis of each sentence (empty if none ended)."""
        best = self.scores.argmax(1)
        rows = torch.arange(best.size(0), device=best.device)
        lengths, hyps = self.length[rows, best].tolist(), self.tokens[rows, best].tolist()
        found = torch.isfinite(self.scores[rows, best]).tolist()
        return [h[:length] if ok else [] for h, length, ok in zip(hyps, lengths, found)]

    def nbest(self, n: int) -> list[list[tuple[list[int], float]]]:
        """The ``n`` best ended hypotheses of each sentence with their scores, best first (the
        first is :meth:`best`'s; one empty hypothesis scored -inf if none ended)."""
        order = self.scores.argsort(dim=1, descending=True, stable=True)[:, :n].tolist()
        scores, lengths = self.scores.tolist(), self.length.tolist()
        out = []
        for row, picked in enumerate(order):
            hyps = [(self.tokens[row, j, :lengths[row][j]].tolist(), scores[row][j])
                    for j in picked if math.isfinite(scores[row][j])]
            out.append(hyps or [([], float("-inf"))])
        return out


def _next_log_probs(decoder: IncrementalDecoder, tokens: Tensor, state, step: int,
                    s: SearchSettings, at_limit: Tensor, width: int,
                    allowed: Tensor | None = None) -> Tensor:
    """Log-probabilities of the next token (live * width, vocab): no PAD or BOS, no EOS before
    ``min_len``, and only EOS for hypotheses at their length limit ``at_limit`` (live,); with
    ``allowed`` (vocab,) normalised over the allowed tokens only, the others impossible."""
    logp = decoder.step(tokens, state).float()
    if allowed is not None:
        logp.masked_fill_(~allowed, float("-inf"))
    torch.log_softmax(logp, dim=-1, out=logp)  # in place: one pass over the vocabulary
    logp[:, PAD_ID] = logp[:, BOS_ID] = float("-inf")
    if step < s.min_len:
        logp[:, EOS_ID] = float("-inf")
    if bool(at_limit.any()):
        limited = logp.view(at_limit.size(0), width, -1)  # (live, width, vocab)
        eos_column = limited[:, :, EOS_ID].clone()
        limited[at_limit] = float("-inf")
        limited[:, :, EOS_ID] = eos_column
    return logp


def _decoder_and_encoder(model: Transformer | IncrementalDecoder, encoder: Transformer | None,
                         int8: bool) -> tuple[IncrementalDecoder, Transformer]:
    if isinstance(model, IncrementalDecoder):
        if encoder is None:
            raise ValueError("beam_search with a packed decoder needs the encoder model")
        return model, encoder
    return IncrementalDecoder(model, int8=int8), model


def beam_search(model: Transformer | IncrementalDecoder, src: Tensor, s: SearchSettings,
                encoder: Transformer | None = None, allowed: Tensor | None = None
                ) -> list[list[int]]:
    """Best hypothesis (token ids, no EOS) for each row of ``src`` (see :func:`_search`)."""
    return _search(model, src, s, encoder, allowed).best()


def beam_search_nbest(model: Transformer | IncrementalDecoder, src: Tensor, s: SearchSettings,
                      n: int, encoder: Transformer | None = None, allowed: Tensor | None = None
                      ) -> list[list[tuple[list[int], float]]]:
    """The ``n`` (at most ``s.beam``) best hypotheses of each row of ``src`` with their
    length-normalised scores, best first."""
    if not 1 <= n <= s.beam:
        raise ValueError(f"n-best needs 1 <= n <= beam ({s.beam}), got {n}")
    return _search(model, src, s, encoder, allowed).nbest(n)


def max_output_lengths(src_len: Tensor, s: SearchSettings) -> Tensor:
    """Decoding steps allowed per sentence (the EOS step included) for sources of ``src_len``
    tokens (their EOS included): ``max_len_a * src_len + max_len_b``, at least 1."""
    return (s.max_len_a * src_len.float() + s.max_len_b).long().clamp(min=1)


@torch.inference_mode()
def _search(model: Transformer | IncrementalDecoder, src: Tensor, s: SearchSettings,
            encoder: Transformer | None = None, allowed: Tensor | None = None) -> _Finished:
    """The ended hypotheses of each row of ``src``.

    A hypothesis ends at EOS; its score is the summed log-probability divided by
    ``length ** lenpen`` (length counts the EOS). A sentence is finished when it holds ``beam``
    ended hypotheses, or when its maximum length ``max_len_a * src_len + max_len_b`` is reached.
    ``model`` may be a packed decoder; then ``encoder`` is the model that encodes ``src``.
    ``allowed`` (vocab,) restricts every output to a shortlist (:func:`shortlist_mask`).
    """
    decoder, encoder = _decoder_and_encoder(model, encoder, s.int8)
    k, n, device = s.beam, src.size(0), src.device
    src_len = (src != PAD_ID).sum(1)
    max_len = max_output_lengths(src_len, s)
    steps = int(max_len.max())
    memory, mask = encoder.encode(src)
    state = decoder.start(memory, mask, k, steps)

    tokens = torch.full((n, steps + 1), BOS_ID, dtype=torch.long, device=device)  # per row
    scores = torch.zeros(n, 1, device=device)          # (live, width)
    active = torch.arange(n, device=device)             # original index of each live sentence
    finished = _Finished(n, k, steps, device)
    slots = torch.arange(k, device=device)

    for step in range(steps):
        live, width = scores.shape
        at_limit = step + 1 >= max_len[active]
        logp = _next_log_probs(decoder, tokens[:, step], state, step, s, at_limit, width,
                               allowed)
        # The 2k best tokens of each row hold the 2k best continuations of the sentence, so
        # hypothesis scores are added to those only, not to a vocabulary-sized tensor.
        row_logp, row_token = logp.topk(min(2 * k, logp.size(-1)), dim=1)
        per_row = row_token.size(1)
        row_scores = row_logp.view(live, width, per_row) + scores.unsqueeze(2)
        cand_scores, cand = row_scores.view(live, -1).topk(min(2 * k, width * per_row), dim=1)
        cand_beam = cand // per_row                      # (live, 2k): the row each extends
        cand_token = row_token.view(live, -1).gather(1, cand)
        is_eos = cand_token == EOS_ID

        # Hypotheses ending among the k best candidates are final, in candidate order.
        rows = torch.arange(live, device=device).unsqueeze(1) * width + cand_beam  # (live, 2k)
        finished.add(is_eos[:, :k] & torch.isfinite(cand_scores[:, :k]), cand_scores, rows,
                     tokens, active, step, s.lenpen)

        # The k best non-EOS candidates continue.
        scores, pick = cand_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=1)
        parent = rows.gather(1, pick).view(-1)
        tokens = tokens.index_select(0, parent)
        tokens[:, step + 1] = cand_token.gather(1, pick).view(-1)

        done = (finished.count[active] >= k) | at_limit
        if bool(done.all()):
            break
        if bool(done.any()):  # drop finished sentences from every tensor of the search
            keep = (~done).nonzero().view(-1)
            keep_rows = (keep.unsqueeze(1) * k + slots).view(-1)
            tokens, scores, active = tokens[keep_rows], scores[keep], active[keep]
            decoder.reorder(state, parent.index_select(0, keep_rows), k, keep)
        elif k > 1:  # with one beam every row continues itself: nothing to reorder
            decoder.reorder(state, parent, k)
    return finished


def length_sorted_batches(sources: list[list[int]], size: int) -> Iterator[list[int]]:
    """Indices of ``sources`` in batches of ``size``, shortest sources first."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for start in range(0, len(order), size):
        yield order[start:start + size]


def shortlist_mask(shortlist: Shortlist, batch: list[list[int]], vocab_size: int,
                   device: torch.device) -> Tensor:
    """The tokens a batch may output, as CTranslate2 allows them with a vocabulary map: the
    candidates of every source token of the batch, the map's common tokens, UNK, BOS and EOS."""
    allowed = torch.zeros(vocab_size, dtype=torch.bool)
    ids = sorted(set().union(*(shortlist.allowed(src) for src in batch)) | {UNK_ID, BOS_ID,
                                                                              EOS_ID})
    allowed[ids] = True
    return allowed.to(device)


@torch.inference_mode()
def translate_batches(model: Transformer, sources: list[list[int]], s: SearchSettings,
                      device: torch.device, skip: frozenset[int] = frozenset(), nbest: int = 0,
                      shortlist: Shortlist | None = None) -> Iterator[tuple[list[int], list]]:
    """Source indices and hypotheses of each length-sorted batch in turn (with ``nbest``, each
    sentence's n best with scores: :func:`beam_search_nbest`; with ``shortlist``, outputs
    restricted to what it allows the batch).

    Batches whose sentences are all in ``skip`` (translated before an interruption) are left out;
    the others are the same batches as in one uninterrupted pass, so they decode the same.
    """
    model.eval()
    keep_freed_memory()
    decoder = IncrementalDecoder(model, int8=s.int8)
    for idx in length_sorted_batches(sources, s.batch_size):
        if skip.issuperset(idx):
            continue
        batch = [sources[i] for i in idx]
        src = source_tensor(batch).to(device)
        allowed = (None if shortlist is None else
                   shortlist_mask(shortlist, batch, model.cfg.vocab_size, device))
        if nbest:
            yield idx, beam_search_nbest(decoder, src, s, nbest, encoder=model, allowed=allowed)
        else:
            yield idx, beam_search(decoder, src, s, encoder=model, allowed=allowed)


def translate(model: Transformer, sources: list[list[int]], s: SearchSettings,
              device: torch.device, nbest: int = 0, shortlist: Shortlist | None = None) -> list:
    """Translate token-id sources in length-sorted batches; output in input order: each
    sentence's best hypothesis, or with ``nbest`` its n best with scores."""
    return in_input_order(len(sources), translate_batches(model, sources, s, device, nbest=nbest,
                                                          shortlist=shortlist))


def in_input_order(count: int, batches: Iterator[tuple[list[int], list]]) -> list:
    """The hypotheses of ``(indices, hypotheses)`` batches put back in input order."""
    out: list = [[] for _ in range(count)]
    for idx, hyps in batches:
        for i, hyp in zip(idx, hyps):
            out[i] = hyp
    return out
