"""The student methods, in one registry.

A method is what a row of the results table names: how its student starts, which data it
trains on, and whether WD's generator made (some of) its first weights. The config check, the
workflow's rules (inputs, settings, the method wildcard), the report's row order and column
``train_data`` all read :func:`get`; nothing else spells out what a method means. Adding a method
is one entry in :data:`REGISTRY` (or a family in :func:`_family`) and its test.

No torch here: the Snakefile imports this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRAIN_DATA = {"bitext": "the original bitext",
              "kd": "the KD data (the teacher's translations of the training sources)",
              "bitext+kd": "both concatenated"}
INITS = {"random": "a fresh random initialisation",
         "cutoff": "cut from the teacher (wd.model.cutoff)",
         "checkpoint": "the converted WD Phase-1 student of the method's transfer kind"}
TRANSFER_KINDS = ("all", "encoder", "decoder", "attention", "ffn")


@dataclass(frozen=True)
class Method:
    """One way of training a student (or the teacher itself, the table's reference row)."""

    name: str
    train_data: str               # a key of TRAIN_DATA
    init: str                     # a key of INITS
    order: int                    # rows of one shape in the report: by order, then config order
    transfer: str | None = None   # WD: the tensor kinds the Phase-1 generator makes
    trains: bool = True           # False: the Phase-1 student is evaluated as it is
    warmup: int | None = None     # WD: Phase-2 warm-up steps instead of wd.phase2's
    description: str = ""

    @property
    def is_wd(self) -> bool:
        """Whether a WD Phase 1 (``wd_phase1_<transfer>``) comes first."""
        return self.transfer is not None


# WD trains both phases on bitext + KD, as released; kd_mixed and cutoff_mixed are KD and cut-off
# on exactly that data, so that the table separates the method from the data.
REGISTRY = {m.name: m for m in [
    Method("teacher", "bitext", "random", 0, description="the teacher"),
    Method("scratch", "bitext", "random", 1, description="no teacher at all"),
    Method("kd", "kd", "random", 2, description="sequence-level KD"),
    Method("kd_mixed", "bitext+kd", "random", 3, description="KD on WD's data"),
    Method("cutoff", "kd", "cutoff", 4, description="KD from the cut-off teacher"),
    Method("cutoff_mixed", "bitext+kd", "cutoff", 5, description="cut-off on WD's data"),
    Method("wd_phase1_only", "bitext+kd", "checkpoint", 6, transfer="all", trains=False,
           description="WD Phase 1 only (ablation)"),
    Method("wd", "bitext+kd", "checkpoint", 7, transfer="all",
           description="weight distillation: Phase 1, then Phase 2"),
]}

# Families with a parameter in the name (wd_<kind>_only, wd_warmup<N>), and old names.
FAMILIES = {
    "wd_<kind>_only": re.compile(f"wd_(?P<kind>{'|'.join(TRANSFER_KINDS[1:])})_only"),
    "wd_warmup<N>": re.compile(r"wd_warmup(?P<warmup>[0-9]+)"),
}
RENAMED = re.compile(r"wd_p2wu(?P<warmup>[0-9]+)")  # wd_p2wu<N> before wd_warmup<N>


def _family(name: str) -> Method | None:
    match = FAMILIES["wd_<kind>_only"].fullmatch(name)
    if match:
        return Method(name, "bitext+kd", "checkpoint", 8, transfer=match["kind"],
                      description=f"WD transferring only {match['kind']} tensors (ablation)")
    match = FAMILIES["wd_warmup<N>"].fullmatch(name)
    if match:
        return Method(name, "bitext+kd", "checkpoint", 9, transfer="all",
                      warmup=int(match["warmup"]),
                      description=f"WD with {match['warmup']} Phase-2 warm-up steps (sweep)")
    return None


def get(name: str) -> Method:
    """The method called ``name``; ValueError naming the known ones for anything else."""
    method = REGISTRY.get(name) or _family(name)
    if method is None:
        raise ValueError(f"unknown method {name!r}; expected one of "
                         f"{', '.join([*REGISTRY][1:] + [*FAMILIES])}")
    return method


def new_name(name: str) -> str | None:
    """The current name of a renamed method (``wd_p2wu<N>`` -> ``wd_warmup<N>``), else None."""
    match = RENAMED.fullmatch(name)
    return f"wd_warmup{match['warmup']}" if match else None


def trained_pattern() -> str:
    """Regular expression of the names of student runs that train (the rules' wildcard)."""
    fixed = [n for n, m in REGISTRY.items() if m.trains and n != "teacher"]
    families = [re.sub(r"\(\?P<\w+>", "(?:", f.pattern) for f in FAMILIES.values()]
    return "|".join([*fixed, *families])  # no named groups: Snakemake would take them as wildcards
