"""Decoding with CTranslate2 on our exported weights (:mod:`wd.export.ct2`): the deployment engine
whose speed the evaluation reports beside ours.

Both engines do the same work: the same length-sorted batches, beam, length penalty, minimum
length and length limit as :mod:`wd.decode.search`, and the ids our search never emits (BOS,
padding) suppressed. CTranslate2 takes one length limit per call: a batch is decoded at the limit
of its longest source, and the sentences whose output ran past their own limit are decoded again
in runs of equal limit. One difference remains, for outputs that run to the limit: ours forces and
scores EOS at the last step, CTranslate2 stops without it, so the two may rank such hypotheses
differently.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from wd.data.shortlist import Shortlist, write_vmap
from wd.decode.search import in_input_order, length_sorted_batches, max_output_lengths
from wd.export.ct2 import SPECIAL, ct2_module, export_model, vocabulary
from wd.export.variants import VARIANTS
from wd.model.transformer import Transformer
from wd.settings import ModelConfig, SearchSettings
from wd.vocab import BOS_ID, PAD_ID

log = logging.getLogger(__name__)

# The precisions the evaluation times: CTranslate2's float32, and int8 weights quantised at load
# (int8 matrix products on CPU and GPU).
COMPUTE_TYPES = ("float32", "int8")
SUPPRESSED = [[SPECIAL[BOS_ID]], [SPECIAL[PAD_ID]]]


def available() -> bool:
    """Whether the optional ``ctranslate2`` package can be imported."""
    try:
        ct2_module()
    except ImportError:
        return False
    return True


def usable(device: torch.device) -> bool:
    """Whether CTranslate2 is installed and translates on ``device``: a CPU-only build cannot
    use a GPU, and a wheel built for another CUDA than the node's cannot load its libraries, so
    a tiny model is exported and translates one sentence (once per process and device).
    :func:`unusable_reason` says why not."""
    return unusable_reason(device) is None


@functools.lru_cache(maxsize=None)
def unusable_reason(device: torch.device) -> str | None:
    """Why CTranslate2 cannot translate on ``device`` (None: it can), as :func:`usable` tries."""
    if not available():
        return "the ctranslate2 package is not installed (pip install 'wd[bench]')"
    if device.type == "cuda" and ct2_module().get_cuda_device_count() == 0:
        return "this ctranslate2 build sees no CUDA device (a CPU-only build?)"
    cfg = ModelConfig(vocab_size=8, enc_layers=1, dec_layers=1, enc_dim=8, dec_dim=8, enc_ffn=8,
                      dec_ffn=8, enc_heads=1, dec_heads=1)
    try:
        with tempfile.TemporaryDirectory(prefix="wd-ct2-check-") as tmp:
            translator = Ct2Translator(Transformer(cfg).eval(), Path(tmp) / "model", "float32",
                                       device, 1)
            translator.translate([[4, 5, 6]], SearchSettings(beam=1, max_len_b=3))
    except Exception as err:  # the library's own failure: a missing CUDA library, say
        return (f"it failed to translate on {device} ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''})")
    return None


def compute_types(setting: str | bool, device: torch.device) -> Sequence[str]:
    """The precisions to time for the config value ``evaluation.ctranslate2``: ``auto`` times
    CTranslate2 where it is installed and can use ``device``, ``true`` requires it, ``false``
    never times it."""
    if setting is False:
        return ()
    if setting == "auto" and not usable(device):
        log.warning("evaluation.ctranslate2 is auto: CTranslate2 is not timed, %s",
                    unusable_reason(device))
        return ()
    if setting is True and not usable(device):
        raise ImportError(f"config key evaluation.ctranslate2 is true but CTranslate2 cannot run "
                          f"on {device.type}: {unusable_reason(device)}; install a build that "
                          "can (pip install 'wd[bench]'), or set it to auto or false")
    return COMPUTE_TYPES


def variants(types: Sequence[str], with_vmap: bool) -> list[str]:
    """The engine names of :data:`VARIANTS` with a compute type in ``types`` (those of
    :func:`compute_types`), the vocabulary-map variant only ``with_vmap``."""
    return [name for name, (compute_type, vmap, _) in VARIANTS.items()
            if compute_type in types and (with_vmap or not vmap)]


class Ct2Translator:
    """One model exported to ``model_dir`` (token ids as its vocabulary) and loaded in
    CTranslate2 with one compute type, on ``device`` with ``threads`` threads; with
    ``shortlist`` its vocabulary map is exported too and every output restricted to it."""

    def __init__(self, model: Transformer, model_dir: Path, compute_type: str,
                 device: torch.device, threads: int, shortlist: Shortlist | None = None):
        self.vocab = vocabulary(model, None)
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        self.use_vmap = shortlist is not None
        if not (model_dir / "model.bin").is_file():
            vmap = None
            if shortlist is not None:
                vmap = model_dir.with_name(model_dir.name + ".vmap.txt")
                write_vmap(shortlist, self.vocab, vmap)
            export_model(model, model_dir, self.vocab, vmap=vmap)
        self.translator = ct2_module().Translator(
            str(model_dir), device=device.type, device_index=device.index or 0,
            compute_type=compute_type, intra_threads=threads, inter_threads=1)

    def translate_batches(self, sources: list[list[int]], s: SearchSettings,
                          skip: frozenset[int] = frozenset()
                          ) -> Iterator[tuple[list[int], list[list[int]]]]:
        """Source indices and best hypotheses (token ids without EOS) of each length-sorted
        batch, the batches :func:`wd.decode.search.translate_batches` makes; batches wholly in
        ``skip`` are left out."""
        for idx in length_sorted_batches(sources, s.batch_size):
            if skip.issuperset(idx):
                continue
            batch = [sources[i] for i in idx]
            hyps = self._decode(batch, s)
            # One limit per call, that of the longest source: the sentences that ran past their
            # own limit are decoded again in runs of equal limit (ours: each its own).
            over = [j for j, src in enumerate(batch) if len(hyps[j]) > output_limit([src], s)]
            for run in equal_limit_runs(over, [batch[j] for j in over], s):
                for j, hyp in zip(run, self._decode([batch[j] for j in run], s)):
                    hyps[j] = hyp
            yield idx, hyps

    def _decode(self, batch: list[list[int]], s: SearchSettings) -> list[list[int]]:
        """One CTranslate2 call, at the output limit of the batch's longest source."""
        results = self.translator.translate_batch(
            [[self.vocab[t] for t in src] for src in batch], beam_size=s.beam,
            length_penalty=s.lenpen, max_decoding_length=output_limit(batch, s),
            min_decoding_length=s.min_len, suppress_sequences=SUPPRESSED,
            max_batch_size=len(batch), use_vmap=self.use_vmap)
        return [[self.ids[t] for t in result.hypotheses[0]] for result in results]

    def translate(self, sources: list[list[int]], s: SearchSettings) -> list[list[int]]:
        """Each source's best hypothesis (token ids without EOS), in input order."""
        return in_input_order(len(sources), self.translate_batches(sources, s))


def equal_limit_runs(positions: list[int], sources: list[list[int]], s: SearchSettings
                     ) -> list[list[int]]:
    """``positions`` (of length-sorted ``sources``) cut where the output limit changes."""
    runs: list[list[int]] = []
    last = None
    for position, src in zip(positions, sources):
        limit = output_limit([src], s)
        if runs and limit == last:
            runs[-1].append(position)
        else:
            runs.append([position])
        last = limit
    return runs


def output_limit(batch: list[list[int]], s: SearchSettings) -> int:
    """CTranslate2's maximum output length for ``batch``: our limit for its longest source (with
    its EOS) less the EOS step, which our limit counts and CTranslate2's does not."""
    longest = torch.tensor([max(len(src) for src in batch) + 1])
    return int(max_output_lengths(longest, s)) - 1
