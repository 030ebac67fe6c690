"""The CTranslate2 deployment variants the evaluation scores and times, by engine name: float32,
int8 weights, and int8 with the vocabulary map restricting the output (wd.data.shortlist; only
where the experiment has one, deploy.vmap_top_k)."""

from __future__ import annotations

from typing import NamedTuple


class Variant(NamedTuple):
    compute_type: str
    vmap: bool
    words: str


VARIANTS = {"ct2": Variant("float32", False, "float32"),
            "ct2_int8": Variant("int8", False, "int8"),
            "ct2_int8_vmap": Variant("int8", True, "int8 with the vocabulary map")}
