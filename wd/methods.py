"""The student methods, in one registry.

A method is what a row of the results table names: a chain of training runs of one student
shape and seed, each starting from an initialisation or from the model the run before it left
(WD: the generator's Phase 1, then Phase 2), with its data, loss and budget. The config check,
the run plan (wd.plan: inputs and jobs), the workflow's wildcards, the report's row order and
column ``train_data`` all read :func:`get` and :func:`chain`; nothing else spells out what a
method means. Adding a method is one entry in :data:`REGISTRY` (or a family in
:func:`_family`) and its test.

No torch here: the Snakefile imports this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

# A run's training data: parts joined by "+" (wd.plan.DATA_PARTS: bitext, the KD data of the
# training sources, the KD data of the monolingual source text), in words.
TRAIN_DATA = {"bitext": "the original bitext",
              "kd": "the KD data (the teacher's translations of the training sources)",
              "bitext+kd": "the original bitext and the KD data, concatenated",
              "kd+mono": "the KD data of the training sources and of the monolingual source "
                         "text, concatenated",
              "bitext+kd+mono": "the original bitext and the KD data of the training sources "
                                "and of the monolingual source text, concatenated"}
WITH_MONO = {"kd": "kd+mono", "bitext+kd": "bitext+kd+mono"}  # a run's data, with mono added
# How a WD Phase-1 generator's projections start (wd.model.generator.STARTS), as run names say it.
PHASE1_STARTS = {"random": "", "cutoff": "_cutinit", "select": "_selectinit"}
PARTS = ("encoder", "decoder", "attention", "ffn")
# What the Phase-1 generator makes: everything, one part only, or every part but one.
TRANSFER_KINDS = ("all", *PARTS, *(f"no_{part}" for part in PARTS))
SIDES = {"encoder": "decoder", "decoder": "encoder"}  # each side's complement
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
PHASE1_RUN = re.compile(f"wd_phase1_(?P<transfer>{'|'.join(TRANSFER_KINDS)})"
                        f"(?P<start>{'|'.join(filter(None, PHASE1_STARTS.values()))})?"
                        rf"(?:_warmup(?P<warmup>[0-9]+))?(?:_lr(?P<lr_scale>{_NUMBER})x)?"
                        r"(?P<mono>_mono)?")


@dataclass(frozen=True)
class Budget:
    """How long a run trains and with which settings: ``student_train``, with the config section
    ``overlay`` laid over it, for the updates the key ``steps`` names, or ``student_train.steps``
    less those of the key ``less`` (spent by the run before it), or ``fraction`` of them."""

    overlay: str | None = None   # a dotted config key, e.g. "wd.phase2"
    steps: str | None = None
    less: str | None = None
    fraction: float = 1.0


STUDENT = Budget()
# WD splits the student budget: Phase 1 takes wd.phase1_steps, Phase 2 the rest.
PHASE1_BUDGET = Budget(overlay="wd.phase1", steps="wd.phase1_steps")
PHASE2_BUDGET = Budget(overlay="wd.phase2", less="wd.phase1_steps")
QAT_BUDGET = Budget(steps="deploy.qat_steps")  # quantisation-aware fine-tuning
# The config check reads their keys: a budget that reads config keys is listed here.
BUDGETS = (STUDENT, PHASE1_BUDGET, PHASE2_BUDGET, QAT_BUDGET)
# The generator's job keys (wd.pipeline.train_phase1) and the config keys they come from.
GENERATOR_KEYS = {"same_shape_layers": "wd.same_shape_layers",
                  "conversion": "wd.phase1_conversion"}


@dataclass(frozen=True)
class Generator:
    """A run whose model WD's parameter generator (wd.model.generator) makes from the frozen
    teacher (Phase 1): the tensor kinds it makes, and how its projections start."""

    transfer: str = "all"   # a TRANSFER_KINDS entry
    start: str = "random"   # a PHASE1_STARTS key


@dataclass(frozen=True)
class Run:
    """One training run of a student shape and seed: the model it starts from (an
    initialisation, or the model the run before it in its method's chain left), the data and
    loss it trains on, and its budget. ``name`` is its directory under ``models/<student>/``,
    shared by every method whose chain holds the same run (trained once)."""

    name: str
    train_data: str               # a key of TRAIN_DATA
    init: str = "random"          # a name in wd.model.inits.INITS ("checkpoint": the run before)
    budget: Budget = STUDENT
    loss: str | None = None       # a name in wd.train.losses.LOSSES instead of the budget's
    warmup: int | None = None     # warm-up steps instead of the budget's
    lr_scale: float = 1.0         # times the budget's learning rate
    generator: Generator | None = None  # WD Phase 1 (init "generator")
    qat: bool = False             # int8 fake quantisation in training (wd.model.fake_quant)


@dataclass(frozen=True)
class Method:
    """One way of training a student (or the teacher itself, the table's reference row): a chain
    of runs, each starting from the model the one before it left; the last one's model is the
    method's."""

    name: str
    runs: tuple[Run, ...]
    order: int                    # rows of one shape in the report: by order, then config order
    description: str = ""

    @property
    def run(self) -> Run:
        """The run whose model is evaluated."""
        return self.runs[-1]

    @property
    def trains(self) -> bool:
        """False where the evaluated run is another method's link (wd_phase1_only: WD's
        Phase 1), trained under that run's name."""
        return self.run.name == self.name

    @property
    def train_data(self) -> str:
        """The data of its runs in chain order: a TRAIN_DATA key, or ``<key>, then <key>``."""
        return ", then ".join(dict.fromkeys(run.train_data for run in self.runs))

    @property
    def data_description(self) -> str:
        """:attr:`train_data` in words (TRAIN_DATA's)."""
        return ", then ".join(TRAIN_DATA[data] for data in self.train_data.split(", then "))

    @property
    def reads_kd(self) -> bool:
        """Whether one of its runs reads the KD data."""
        return any(run.train_data != "bitext" for run in self.runs)

    @property
    def reads_mono(self) -> bool:
        """Whether one of its runs reads the KD data of the monolingual source text."""
        return any("mono" in run.train_data.split("+") for run in self.runs)

    def before(self, run: Run) -> Run | None:
        """The run of the chain that ``run`` starts from, or None."""
        index = self.runs.index(run)
        return self.runs[index - 1] if index else None


def phase1_run(transfer: str = "all", start: str = "random", warmup: int | None = None,
               lr_scale: float = 1.0, mono: bool = False) -> Run:
    """A WD Phase-1 run on WD's data (with ``mono``, and the monolingual KD data), named
    ``wd_phase1_<transfer><start>[_warmup<N>][_lr<F>x][_mono]`` so that the methods that need
    the same Phase 1 share it."""
    name = (f"wd_phase1_{transfer}{PHASE1_STARTS[start]}"
            + ("" if warmup is None else f"_warmup{warmup}")
            + ("" if lr_scale == 1.0 else f"_lr{lr_scale:g}x"))
    run = Run(name, "bitext+kd", "generator", PHASE1_BUDGET, warmup=warmup,
              lr_scale=lr_scale, generator=Generator(transfer, start))
    return with_mono_data(run) if mono else run


def with_mono_data(run: Run, name: str | None = None) -> Run:
    """``run`` with the monolingual KD data added to its KD data (a run without KD data keeps
    its data), named ``name`` or ``<run>_mono``."""
    return replace(run, name=name or f"{run.name}_mono",
                   train_data=WITH_MONO.get(run.train_data, run.train_data))


def wd(name: str, order: int, description: str, transfer: str = "all", start: str = "random",
       phase1_warmup: int | None = None, warmup: int | None = None,
       lr_scale: float = 1.0) -> Method:
    """A WD method: Phase 1, then Phase 2 from the student Phase 1 left, both on bitext + KD
    (as released)."""
    first = phase1_run(transfer, start, phase1_warmup, lr_scale)
    second = Run(name, "bitext+kd", "checkpoint", PHASE2_BUDGET, warmup=warmup,
                 lr_scale=lr_scale)
    return Method(name, (first, second), order, description)


def one_run(name: str, train_data: str, init: str, order: int, description: str,
            loss: str | None = None) -> Method:
    """A method of one run on the student budget."""
    return Method(name, (Run(name, train_data, init, loss=loss),), order, description)


def then(base: Method, name: str, order: int, description: str, **run) -> Method:
    """``base``'s chain, then one more run (with the fields ``run``) from the model ``base``
    left."""
    return Method(name, (*base.runs, Run(name, init="checkpoint", **run)), order, description)


# kd_mixed and cutoff_mixed are KD and cut-off on exactly WD's data, so that the table separates
# the method from the data.
REGISTRY = {m.name: m for m in [
    one_run("teacher", "bitext", "random", 0, "the teacher"),
    one_run("scratch", "bitext", "random", 1, "no teacher at all"),
    one_run("kd", "kd", "random", 2, "sequence-level KD"),
    one_run("word_kd", "bitext", "random", 3,
            "word-level KD: the teacher's output distributions on the bitext", loss="word_kd"),
    one_run("kd_mixed", "bitext+kd", "random", 4, "KD on WD's data"),
    one_run("cutoff", "kd", "cutoff", 5, "KD from the cut-off teacher"),
    one_run("cutoff_mixed", "bitext+kd", "cutoff", 6, "cut-off on WD's data"),
    one_run("select", "kd", "select", 7,
            "KD from weight selection (Xu et al., ICLR 2024; not in the WD paper)"),
    one_run("prune", "bitext", "prune", 8, "Minitron: importance pruning, then word-level KD "
            "(Muralidharan et al. 2024; not in the WD paper)", loss="word_kd"),
    Method("wd_phase1_only", (phase1_run(),), 9, "WD Phase 1 only (ablation)"),
    wd("wd", 10, "weight distillation: Phase 1, then Phase 2"),
    wd("wd_cutinit", 11, "WD whose generator starts as the cut-off (our variant)",
       start="cutoff"),
    wd("wd_selectinit", 12, "WD whose generator starts as weight selection (our variant)",
       start="select"),
    one_run("embed_kd", "kd", "embeddings", 8,
            "KD from a random student with the teacher's embeddings (a baseline)"),
]}
REGISTRY["kd_ft"] = then(REGISTRY["kd"], "kd_ft", 2, "sequence-level KD, then a tenth of the "
                         "student budget on the bitext at a quarter of the learning rate (a "
                         "common recipe; not in the WD paper)", train_data="bitext",
                         budget=Budget(fraction=0.1), warmup=0, lr_scale=0.25)


# Families with a parameter in the name, and old names.
_SCALABLE = [n for n, m in REGISTRY.items() if m.trains and n != "teacher"]
FAMILIES = {
    "wd_<part>_only": re.compile(f"wd_(?P<part>{'|'.join(PARTS)})_only"),
    "wd_no_<part>": re.compile(f"wd_no_(?P<part>{'|'.join(PARTS)})"),
    "wd_warmup<N>": re.compile(r"wd_warmup(?P<warmup>[0-9]+)"),
    "wd_phase1_warmup<N>": re.compile(r"wd_phase1_warmup(?P<warmup>[0-9]+)"),
    "<method>_lr<F>x": re.compile(f"(?P<base>{'|'.join(_SCALABLE)})_lr(?P<scale>{_NUMBER})x"),
    "<method>_qat": re.compile(r"(?P<base>[^/]+)_qat"),
    "<method>_more": re.compile(r"(?P<base>[^/]+)_more"),
    "<method>_mono": re.compile(r"(?P<base>[^/]+)_mono"),
}
RENAMED = re.compile(r"wd_p2wu(?P<warmup>[0-9]+)")  # wd_p2wu<N> before wd_warmup<N>


def scaled(base: Method, name: str, scale: float, order: int, description: str) -> Method:
    """``base`` with every run of its chain at ``scale`` times its learning rate; the runs
    before the last are named ``<run>_lr<scale>x`` (other sweep points of the same scale
    share them)."""
    runs = [replace(run, name=f"{run.name}_lr{scale:g}x", lr_scale=run.lr_scale * scale)
            for run in base.runs[:-1]]
    last = replace(base.run, name=name, lr_scale=base.run.lr_scale * scale)
    return Method(name, (*runs, last), order, description)


def _family(name: str) -> Method | None:
    """The record of a family member (ablations order 13-14, sweeps 15-17), or None."""
    match = FAMILIES["wd_<part>_only"].fullmatch(name)
    if match:
        return wd(name, 13, f"WD transferring only {match['part']} tensors (ablation)",
                  transfer=match["part"])
    match = FAMILIES["wd_no_<part>"].fullmatch(name)
    if match:
        # The two sides partition the model: all but the encoder is the decoder side, and the
        # run is the same as wd_decoder_only's (its Phase 1 is shared, not trained twice).
        transfer = SIDES.get(match["part"], f"no_{match['part']}")
        return wd(name, 14, f"WD transferring all but {match['part']} tensors (ablation)",
                  transfer=transfer)
    match = FAMILIES["wd_warmup<N>"].fullmatch(name)
    if match:
        return wd(name, 15, f"WD with {match['warmup']} Phase-2 warm-up steps (sweep)",
                  warmup=int(match["warmup"]))
    match = FAMILIES["wd_phase1_warmup<N>"].fullmatch(name)
    if match:
        return wd(name, 16, f"WD with {match['warmup']} Phase-1 warm-up steps (sweep)",
                  phase1_warmup=int(match["warmup"]))
    match = FAMILIES["<method>_lr<F>x"].fullmatch(name)
    if match and float(match["scale"]) > 0:
        base = REGISTRY[match["base"]]
        return scaled(base, name, float(match["scale"]), 17,
                      f"{base.description} at {match['scale']}x the learning rate (sweep)")
    for family, qat in (("<method>_qat", True), ("<method>_more", False)):
        match = FAMILIES[family].fullmatch(name)
        if match and match["base"] != "teacher" and (REGISTRY.get(match["base"])
                                                     or _family(match["base"])):
            return fine_tuned(get(match["base"]), name, qat)
    match = FAMILIES["<method>_mono"].fullmatch(name)
    if match and match["base"] != "teacher":
        base = REGISTRY.get(match["base"]) or _family(match["base"])
        if base is not None and base.reads_kd and not base.reads_mono:
            return with_mono(base, name)
    return None


def with_mono(base: Method, name: str) -> Method:
    """``base`` with the KD data of the monolingual source text added wherever its runs read
    KD data (``<method>_mono``): every run of its chain renamed ``<run>_mono`` (the last
    ``name``), since each continues a run that saw other data."""
    runs = [with_mono_data(run) for run in base.runs[:-1]]
    return Method(name, (*runs, with_mono_data(base.run, name if base.trains else None)),
                  base.order, f"{base.description}, with the monolingual KD data")


def fine_tuned(base: Method, name: str, qat: bool) -> Method:
    """``base``, then deploy.qat_steps more updates on its last run's data and loss, at a
    quarter of the learning rate from the first update (untuned): with int8 fake quantisation
    (``<method>_qat``), or in float as its control (``<method>_more``: what the extra updates
    give without quantisation)."""
    what = "int8 quantisation-aware fine-tuning" if qat else "as many float updates as _qat"
    return then(base, name, base.order, f"{base.description}, then {what}",
                train_data=base.run.train_data, loss=base.run.loss, budget=QAT_BUDGET,
                warmup=0, lr_scale=0.25, qat=qat)


def get(name: str) -> Method:
    """The method called ``name``; ValueError naming the known ones for anything else."""
    method = REGISTRY.get(name) or _family(name)
    if method is None:
        raise ValueError(f"unknown method {name!r}; expected one of "
                         f"{', '.join([*REGISTRY][1:] + [*FAMILIES])}")
    return method


def chain(run: str) -> tuple[Run, ...]:
    """The runs of a student that the run called ``run`` continues, ending with it: a trained
    method's name or a WD Phase-1 run's (``wd_phase1_<transfer>...``, PHASE1_RUN)."""
    match = PHASE1_RUN.fullmatch(run)
    if match:
        start = {suffix: start for start, suffix in PHASE1_STARTS.items()}[match["start"] or ""]
        warmup = None if match["warmup"] is None else int(match["warmup"])
        return (phase1_run(match["transfer"], start, warmup, float(match["lr_scale"] or 1.0),
                           bool(match["mono"])),)
    method = get(run)
    if not method.trains:
        raise ValueError(f"method {run!r} is evaluated as {method.run.name} left it: no run of "
                         "its own")
    return method.runs


def new_name(name: str) -> str | None:
    """The current name of a renamed method (``wd_p2wu<N>`` -> ``wd_warmup<N>``), else None."""
    match = RENAMED.fullmatch(name)
    return f"wd_warmup{match['warmup']}" if match else None


def _unnamed(pattern: re.Pattern) -> str:
    """The pattern without named groups: Snakemake would take them for wildcards."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern)


def _trained_methods() -> list[str]:
    return [*_SCALABLE, *map(_unnamed, FAMILIES.values())]


def run_pattern() -> str:
    """Regular expression of the names of the runs that train (the training rule's wildcard):
    the methods that train, and the runs their chains start with (WD's Phase 1)."""
    return "|".join([*_trained_methods(), _unnamed(PHASE1_RUN)])


def evaluated_pattern() -> str:
    """Regular expression of the method names of evaluated systems: the teacher, the methods
    that train, and those evaluated as another's run left them (the evaluation's wildcard)."""
    untrained = [n for n, m in REGISTRY.items() if not m.trains or n == "teacher"]
    return "|".join([*untrained, *_trained_methods()])
