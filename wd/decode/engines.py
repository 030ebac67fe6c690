"""The decoder that makes the KD data: ours (the reference) or CTranslate2 on our exported weights
(:mod:`wd.decode.ct2`, faster on CPU and GPU), and the check that CTranslate2 translates as ours
does before its output is used.

Both engines decode the same length-sorted batches with the same beam, length penalty and length
limit, so a journal of finished batches (:mod:`wd.decode.journal`) resumes with either.
"""

from __future__ import annotations

import contextlib
import logging
import random
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from wd.decode import ct2
from wd.decode.search import in_input_order, translate, translate_batches
from wd.model.transformer import Transformer
from wd.settings import EngineSettings, SearchSettings

log = logging.getLogger(__name__)

ENGINES = ("ours", "ctranslate2", "auto")
CHECK_SEED = 0  # the check's sample of sentences is the same in every run of a job


class EngineMismatch(RuntimeError):
    """CTranslate2's hypotheses differ from ours on more of the checked sentences than allowed."""


def resolve(engine: str, device: torch.device, key: str = "kd.engine") -> str:
    """``ours`` or ``ctranslate2`` for the value of config ``key``: ``auto`` is CTranslate2
    where it translates on ``device`` (:func:`wd.decode.ct2.usable` tries it), else ours, with
    one warning line saying why."""
    if engine not in ENGINES:
        raise ValueError(f"config key {key}: {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "auto":
        if ct2.usable(device):
            return "ctranslate2"
        log.warning("%s is auto: decoding with ours, as CTranslate2 cannot run here: %s", key,
                    ct2.unusable_reason(device))
        return "ours"
    if engine == "ctranslate2" and not ct2.usable(device):
        raise ImportError(f"config key {key} is ctranslate2 but CTranslate2 cannot run on "
                          f"{device.type}: {ct2.unusable_reason(device)}; install a build that "
                          "can (pip install 'wd[bench]', a build with CUDA for a GPU), or set it "
                          "to ours or auto")
    return engine


Batches = Callable[[list[list[int]], frozenset[int]], Iterator[tuple[list[int], list[list[int]]]]]


@contextlib.contextmanager
def batch_decoder(engine: str, model: Transformer, s: SearchSettings,
                  device: torch.device) -> Iterator[Batches]:
    """``(sources, skip) -> (indices, hypotheses) per batch`` of the resolved ``engine``; for
    CTranslate2 the model is converted once, into a temporary directory removed afterwards."""
    if engine == "ours":
        yield lambda sources, skip: translate_batches(model, sources, s, device, skip)
        return
    with tempfile.TemporaryDirectory(prefix="wd-ct2-") as tmp:
        translator = ct2.Ct2Translator(model, Path(tmp), "int8" if s.int8 else "float32", device,
                                       torch.get_num_threads())
        yield lambda sources, skip: translator.translate_batches(sources, s, skip)


def translate_with(engine: str, model: Transformer, sources: list[list[int]],
                   s: SearchSettings, device: torch.device) -> list[list[int]]:
    """Each source's best hypothesis from the resolved ``engine``, in input order."""
    with batch_decoder(engine, model, s, device) as batches:
        return in_input_order(len(sources), batches(sources, frozenset()))


def check_sample(total: int, settings: EngineSettings) -> list[int]:
    """The indices of the sentences :func:`check` compares (a seeded sample, the same in every
    run of a job), in order."""
    return sorted(random.Random(CHECK_SEED).sample(range(total),
                                                   min(settings.check_sentences, total)))


def check(model: Transformer, sample: dict[int, list[int]], outputs: dict[int, str],
          to_text: Callable[[list[list[int]]], list[str]], s: SearchSettings,
          settings: EngineSettings, device: torch.device, what: str) -> dict:
    """Decode the ``sample`` of sources (:func:`check_sample`: index -> ids) with our decoder
    and compare with CTranslate2's ``outputs`` (index -> text, as ``to_text`` writes ids); the
    record for the results: engine, sentences checked, share identical. Raises
    :class:`EngineMismatch` below ``settings.min_identical``."""
    if not sample:
        return {"engine": "ctranslate2", "checked": 0, "identical": None}
    indices = sorted(sample)
    ours = to_text(translate(model, [sample[i] for i in indices], s, device))
    share = sum(text == outputs[i] for text, i in zip(ours, indices)) / len(indices)
    if share < settings.min_identical:
        raise EngineMismatch(
            f"{what}: CTranslate2's hypotheses equal our decoder's on {share:.1%} of "
            f"{len(indices)} checked sentences, below kd.min_identical = "
            f"{settings.min_identical}: the converted model does not translate as ours (set "
            "kd.engine: ours, or lower kd.min_identical after reading the differing outputs)")
    return {"engine": "ctranslate2", "checked": len(indices), "identical": round(share, 4)}
