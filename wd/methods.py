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
from dataclasses import dataclass, replace

TRAIN_DATA = {"bitext": "the original bitext",
              "kd": "the KD data (the teacher's translations of the training sources)",
              "bitext+kd": "the original bitext and the KD data, concatenated"}
# How a WD Phase-1 generator's projections start (wd.model.generator.STARTS), as run names say it.
PHASE1_STARTS = {"random": "", "cutoff": "_cutinit", "select": "_selectinit"}
PARTS = ("encoder", "decoder", "attention", "ffn")
# What the Phase-1 generator makes: everything, one part only, or every part but one.
TRANSFER_KINDS = ("all", *PARTS, *(f"no_{part}" for part in PARTS))
SIDES = {"encoder": "decoder", "decoder": "encoder"}  # each side's complement
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
PHASE1_RUN = re.compile(f"(?P<transfer>{'|'.join(TRANSFER_KINDS)})"
                        f"(?P<start>{'|'.join(filter(None, PHASE1_STARTS.values()))})?"
                        rf"(?:_warmup(?P<warmup>[0-9]+))?(?:_lr(?P<lr_scale>{_NUMBER})x)?")


@dataclass(frozen=True)
class Method:
    """One way of training a student (or the teacher itself, the table's reference row)."""

    name: str
    train_data: str               # a key of TRAIN_DATA
    init: str                     # a name in wd.model.inits.INITS
    order: int                    # rows of one shape in the report: by order, then config order
    transfer: str | None = None   # WD: the tensor kinds the Phase-1 generator makes
    trains: bool = True           # False: the Phase-1 student is evaluated as it is
    warmup: int | None = None     # WD: Phase-2 warm-up steps instead of wd.phase2's
    phase1_warmup: int | None = None  # WD: Phase-1 warm-up steps instead of wd.phase1's
    lr_scale: float = 1.0         # times the configured learning rate (WD: of both phases)
    loss: str | None = None       # a name in wd.train.losses.LOSSES instead of student_train's
    phase1_start: str = "random"  # WD: how the generator's projections start (PHASE1_STARTS)
    description: str = ""

    @property
    def is_wd(self) -> bool:
        """Whether a WD Phase 1 (``wd_phase1_<phase1_run>``) comes first."""
        return self.transfer is not None

    @property
    def phase1_run(self) -> str:
        """Names the Phase-1 run this WD method starts from; methods that need the same Phase 1
        share it (``wd``, ``wd_phase1_only`` and ``wd_warmup<N>``: ``all``)."""
        if self.transfer is None:
            raise ValueError(f"method {self.name!r} has no WD Phase 1")
        warmup = "" if self.phase1_warmup is None else f"_warmup{self.phase1_warmup}"
        scale = "" if self.lr_scale == 1.0 else f"_lr{self.lr_scale:g}x"
        return f"{self.transfer}{PHASE1_STARTS[self.phase1_start]}{warmup}{scale}"


def phase1_settings(run: str) -> tuple[str, str, int | None, float]:
    """(transfer kind, generator start, Phase-1 warm-up or None, learning-rate scale) of a
    Phase-1 run name."""
    match = PHASE1_RUN.fullmatch(run)
    if match is None:
        raise ValueError(f"unknown WD Phase-1 run {run!r}")
    start = {suffix: start for start, suffix in PHASE1_STARTS.items()}[match["start"] or ""]
    warmup = None if match["warmup"] is None else int(match["warmup"])
    return match["transfer"], start, warmup, float(match["lr_scale"] or 1.0)


# WD trains both phases on bitext + KD, as released; kd_mixed and cutoff_mixed are KD and cut-off
# on exactly that data, so that the table separates the method from the data.
REGISTRY = {m.name: m for m in [
    Method("teacher", "bitext", "random", 0, description="the teacher"),
    Method("scratch", "bitext", "random", 1, description="no teacher at all"),
    Method("kd", "kd", "random", 2, description="sequence-level KD"),
    Method("word_kd", "bitext", "random", 3, loss="word_kd",
           description="word-level KD: the teacher's output distributions on the bitext"),
    Method("kd_mixed", "bitext+kd", "random", 4, description="KD on WD's data"),
    Method("cutoff", "kd", "cutoff", 5, description="KD from the cut-off teacher"),
    Method("cutoff_mixed", "bitext+kd", "cutoff", 6, description="cut-off on WD's data"),
    Method("select", "kd", "select", 7,
           description="KD from weight selection (Xu et al., ICLR 2024; not in the WD paper)"),
    Method("prune", "bitext", "prune", 8, loss="word_kd",
           description="Minitron: importance pruning, then word-level KD (Muralidharan et al. "
                       "2024; not in the WD paper)"),
    Method("wd_phase1_only", "bitext+kd", "checkpoint", 9, transfer="all", trains=False,
           description="WD Phase 1 only (ablation)"),
    Method("wd", "bitext+kd", "checkpoint", 10, transfer="all",
           description="weight distillation: Phase 1, then Phase 2"),
    Method("wd_cutinit", "bitext+kd", "checkpoint", 11, transfer="all", phase1_start="cutoff",
           description="WD whose generator starts as the cut-off (our variant)"),
    Method("wd_selectinit", "bitext+kd", "checkpoint", 12, transfer="all", phase1_start="select",
           description="WD whose generator starts as weight selection (our variant)"),
    Method("embed_kd", "kd", "embeddings", 8,
           description="KD from a random student with the teacher's embeddings (a baseline)"),
]}

# Families with a parameter in the name, and old names.
_SCALABLE = [n for n, m in REGISTRY.items() if m.trains and n != "teacher"]
FAMILIES = {
    "wd_<part>_only": re.compile(f"wd_(?P<part>{'|'.join(PARTS)})_only"),
    "wd_no_<part>": re.compile(f"wd_no_(?P<part>{'|'.join(PARTS)})"),
    "wd_warmup<N>": re.compile(r"wd_warmup(?P<warmup>[0-9]+)"),
    "wd_phase1_warmup<N>": re.compile(r"wd_phase1_warmup(?P<warmup>[0-9]+)"),
    "<method>_lr<F>x": re.compile(f"(?P<base>{'|'.join(_SCALABLE)})_lr(?P<scale>{_NUMBER})x"),
}
RENAMED = re.compile(r"wd_p2wu(?P<warmup>[0-9]+)")  # wd_p2wu<N> before wd_warmup<N>


def _family(name: str) -> Method | None:
    """The record of a family member (ablations order 13-14, sweeps 15-17), or None."""
    wd = {"name": name, "train_data": "bitext+kd", "init": "checkpoint", "transfer": "all"}
    match = FAMILIES["wd_<part>_only"].fullmatch(name)
    if match:
        return Method(**{**wd, "transfer": match["part"]}, order=13,
                      description=f"WD transferring only {match['part']} tensors (ablation)")
    match = FAMILIES["wd_no_<part>"].fullmatch(name)
    if match:
        # The two sides partition the model: all but the encoder is the decoder side, and the
        # run is the same as wd_decoder_only's (its Phase 1 is shared, not trained twice).
        transfer = SIDES.get(match["part"], f"no_{match['part']}")
        return Method(**{**wd, "transfer": transfer}, order=14,
                      description=f"WD transferring all but {match['part']} tensors (ablation)")
    match = FAMILIES["wd_warmup<N>"].fullmatch(name)
    if match:
        return Method(**wd, order=15, warmup=int(match["warmup"]),
                      description=f"WD with {match['warmup']} Phase-2 warm-up steps (sweep)")
    match = FAMILIES["wd_phase1_warmup<N>"].fullmatch(name)
    if match:
        return Method(**wd, order=16, phase1_warmup=int(match["warmup"]),
                      description=f"WD with {match['warmup']} Phase-1 warm-up steps (sweep)")
    match = FAMILIES["<method>_lr<F>x"].fullmatch(name)
    if match and float(match["scale"]) > 0:
        base = REGISTRY[match["base"]]
        return replace(base, name=name, order=17, lr_scale=float(match["scale"]),
                       description=f"{base.description} at {match['scale']}x the learning "
                                   "rate (sweep)")
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


def _unnamed(pattern: re.Pattern) -> str:
    """The pattern without named groups: Snakemake would take them for wildcards."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern)


def trained_pattern() -> str:
    """Regular expression of the names of student runs that train (the rules' wildcard)."""
    return "|".join([*_SCALABLE, *map(_unnamed, FAMILIES.values())])


def evaluated_pattern() -> str:
    """Regular expression of the method names of evaluated systems: the teacher, the student
    runs that train, and those evaluated as Phase 1 left them (the evaluation's wildcard)."""
    untrained = [n for n, m in REGISTRY.items() if not m.trains or n == "teacher"]
    return "|".join([*untrained, trained_pattern()])


def phase1_pattern() -> str:
    """Regular expression of the Phase-1 run names (:attr:`Method.phase1_run`)."""
    return _unnamed(PHASE1_RUN)
