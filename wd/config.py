"""Experiment configuration: schema validation with one-line errors, and typed views of it."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import math
from pathlib import Path

import jsonschema
import yaml

from wd import methods, pretrained
from wd.data.corpora import CORPORA, registry_corpus
from wd.data.mono import mono_sets
from wd.evaluate.metrics import VARIANTS
from wd.io import missing_file
from wd.model.inits import check_inheritable
from wd.settings import EngineSettings, ModelConfig, SearchSettings, TrainSettings

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"
REPO_CONFIG = SCHEMA.parent.parent / "config.yaml"  # the default experiment, under every run


class ConfigError(ValueError):
    """A bad configuration value; the message is one line naming the key."""


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate(config: dict, schema_path: Path = SCHEMA) -> None:
    """Check ``config`` against the schema and the rules a schema cannot say (ConfigError), and
    fill in the schema's defaults: after this, every key with a default is present, so no code
    repeats a default."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"config error at {_where(error.absolute_path)}: {error.message}")
    _check_finite(config)
    _apply_defaults(schema, config, schema)
    _pretrained_shape(config)
    _check_semantics(config)


def _check_finite(value, path: tuple = ()) -> None:
    """YAML's ``.nan`` and ``.inf`` pass every bound of the schema (a comparison with NaN is
    false): no key of ours takes them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config error at {_where(path)}: {value} is not a finite number")
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        _check_finite(item, (*path, key))


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (plain YAML keeps the last value)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"config error in {key_node.start_mark.name}:{line}: key "
                                  f"{key!r} given twice (first on line {seen[key]})")
            seen[key] = line
        return super().construct_mapping(node, deep)


def merged(*layers: dict) -> dict:
    """Config dicts merged key by key, later layers winning, as Snakemake merges config.yaml
    and each --configfile (a list is replaced whole)."""
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def read_configs(paths: list[Path]) -> dict:
    """The config of ``config.yaml`` and the files ``paths`` on top, as a run reads it (not yet
    validated: :func:`validate` fills the schema's defaults)."""
    layers = [yaml.safe_load(Path(p).read_text(encoding="utf-8")) or {}
              for p in [REPO_CONFIG, *paths]]
    return merged(*layers)


def check_files(paths: list[Path]) -> None:
    """Each config file parses as YAML with every key once; else one line naming the file and
    line (Snakemake reads them too, but keeps the last of repeated keys)."""
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            try:
                yaml.load(handle, Loader=_StrictLoader)
            except yaml.MarkedYAMLError as err:
                mark = err.problem_mark or err.context_mark
                raise ConfigError(f"config error in {path}:{mark.line + 1}: {err.problem}"
                                  ) from None


def _pretrained_shape(config: dict) -> None:
    """With ``teacher.pretrained``, ``teacher.model`` is the pretrained model's shape (read and
    checked here, at start-up, without torch), whatever the config said."""
    source = config["teacher"].get("pretrained")
    if source is None:
        return
    if importlib.util.find_spec("transformers") is None:
        raise ConfigError("config error at teacher.pretrained: needs the transformers package: "
                          "pip install 'wd[hf]'")
    try:
        config["teacher"]["model"] = pretrained.check(source)
    except pretrained.PretrainedError as err:
        raise ConfigError(str(err)) from None


def _apply_defaults(node: dict, value, root: dict) -> None:
    """Add each missing key that ``node`` (or what its ``$ref`` points to) gives a default, at
    every level of ``value``; a default object gets its own keys' defaults too."""
    while True:
        if isinstance(value, dict):
            for key, sub in node.get("properties", {}).items():
                if key not in value and "default" in sub:
                    value[key] = copy.deepcopy(sub["default"])
                if key in value:
                    _apply_defaults(sub, value[key], root)
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for item in value:
                _apply_defaults(node["items"], item, root)
        if "$ref" not in node:
            return
        node = root["$defs"][node["$ref"].removeprefix("#/$defs/")]


def _method_lists(config: dict) -> list[tuple[str, list]]:
    """(config key, list) of every method list: ``methods`` and a student's own ``methods``."""
    lists = [("methods", config.get("methods") or [])]
    for index, student in enumerate(config.get("students") or []):
        if isinstance(student, dict) and isinstance(student.get("methods"), list):
            lists.append((f"students.{index}.methods", student["methods"]))
    return lists


def rename_methods(config: dict) -> list[str]:
    """Replace old method names in the method lists by the current ones; one warning line per
    name replaced."""
    warnings = []
    for key, names in _method_lists(config):
        for index, name in enumerate(names):
            new = methods.new_name(name) if isinstance(name, str) else None
            if new:
                names[index] = new
                warnings.append(f"config warning at {key}.{index}: {name} is now called {new}")
    return warnings


def student_methods(config: dict, name: str) -> list[str]:
    """The methods trained for the student shape ``name``: its own list, else ``methods``; with
    ``deploy.qat_steps``, each (or each in ``deploy.qat_methods``) followed by its
    quantisation-aware fine-tuning (``<method>_qat``)."""
    student = next(s for s in config["students"] if s["name"] == name)
    listed = student.get("methods") or config["methods"]
    deploy = config.get("deploy", {})
    if not deploy.get("qat_steps"):
        return listed
    chosen = deploy.get("qat_methods") or listed
    return [*listed, *(f"{m}_qat" for m in listed if m in chosen and not m.endswith("_qat")
                       and f"{m}_qat" not in listed)]


def _check_semantics(config: dict) -> None:
    _check_experiment_name(config["experiment"])
    for key, names in _method_lists(config):
        for index, name in enumerate(names):
            try:
                if name == "teacher":
                    raise ValueError("the teacher is always evaluated; list student methods "
                                     "only")
                method = methods.get(name)
                if (any(run.budget == methods.QAT_BUDGET for run in method.runs)
                        and not config.get("deploy", {}).get("qat_steps")):
                    raise ValueError(f"{name} trains deploy.qat_steps updates, which is 0")
                if method.reads_mono and not config["data"].get("mono"):
                    raise ValueError(f"{name} reads the KD data of the monolingual source "
                                     "text: name it in data.mono")
            except ValueError as err:
                raise ConfigError(f"config error at {key}.{index}: {err}") from None
    for key, section in train_sections(config).items():
        try:
            TrainSettings(**section)
        except ValueError as err:
            raise ConfigError(f"config error at {key}: {err}") from None
    for budget in methods.BUDGETS:  # a run that gets the rest of the student budget
        if budget.less and config_value(config, budget.less) >= config["student_train"]["steps"]:
            raise ConfigError(f"config error at {budget.less}: must be below student_train.steps "
                              "(the run after gets the rest of the student budget)")
    names = [s["name"] for s in config["students"]]
    trained = {m for student in config["students"] for m in student.get("methods") or []}
    for index, name in enumerate(config.get("deploy", {}).get("qat_methods") or []):
        if name not in trained | set(config["methods"]):
            raise ConfigError(f"config error at deploy.qat_methods.{index}: {name} is not a "
                              "listed method")
    if len(set(names)) != len(names):
        raise ConfigError(f"config error at students: names must be unique, got {names}")
    vocab = config["bpe"]["vocab_size"]
    try:
        teacher = ModelConfig(vocab_size=vocab, **shape(config, "teacher"))
    except ValueError as err:
        raise ConfigError(f"config error at teacher.model: {err}") from None
    for index, name in enumerate(names):
        try:
            student = ModelConfig(vocab_size=vocab, **shape(config, name))
            for method in student_methods(config, name):
                for run in methods.get(method).runs:
                    check_inheritable(run.init, teacher, student)
        except ValueError as err:
            raise ConfigError(f"config error at students.{index} ({name}): {err}") from None
    tgt_lang = config["data"]["tgt_lang"]
    for index, name in enumerate(config["evaluation"]["bleu_variants"]):
        if VARIANTS[name].lang != tgt_lang:
            raise ConfigError(f"config error at evaluation.bleu_variants.{index}: {name} scores "
                              f"{VARIANTS[name].lang} text but data.tgt_lang is {tgt_lang}")
    _check_data(config["data"])
    _check_optional_packages(config)


# Config keys that need an optional package at a value: (key path, value, package, extra).
OPTIONAL_PACKAGES = [(("logging", "tensorboard"), True, "tensorboard", "tensorboard"),
                     (("evaluation", "ctranslate2"), True, "ctranslate2", "bench"),
                     (("kd", "engine"), "ctranslate2", "ctranslate2", "bench"),
                     (("evaluation", "engine"), "ctranslate2", "ctranslate2", "bench")]


def train_sections(config: dict) -> dict[str, dict]:
    """Config key -> train settings of the teacher, the students and each budget's section (its
    keys over the student budget's: WD's phases)."""
    students = config["student_train"]
    overlays = {b.overlay: {**students, **config_value(config, b.overlay)}
                for b in methods.BUDGETS if b.overlay}
    return {"teacher.train": config["teacher"]["train"], "student_train": students, **overlays}


def config_value(config: dict, key: str):
    """The value at a dotted config key (``data.max_len``)."""
    for part in key.split("."):
        config = config[part]
    return config


def _check_optional_packages(config: dict) -> None:
    """A feature switched on (true) whose package is not installed is refused at start-up, not
    hours later in the job that needs it."""
    for (section, key), value, package, extra in OPTIONAL_PACKAGES:
        if config[section][key] == value and importlib.util.find_spec(package) is None:
            raise ConfigError(f"config error at {section}.{key}: {str(value).lower()} needs the "
                              f"{package} package: pip install 'wd[{extra}]'")


def _check_data(data: dict) -> None:
    """Local files exist; a registry corpus matches the languages and its manual copies exist;
    data.mono names the corpus's monolingual sets or files that exist."""
    if data["source"] == "local":
        local = data.get("local")
        if local is None:
            raise ConfigError("config error at data.local: required when data.source is local")
        for split, files in local.items():
            for side, paths in files.items():
                for index, path in enumerate(paths if isinstance(paths, list) else [paths]):
                    key = f"{split}.{side}" + (f".{index}" if isinstance(paths, list) else "")
                    if not Path(path).is_file():
                        raise ConfigError(f"config error at data.local.{key}: "
                                          f"{missing_file(path)}")
    corpus = None
    if data["source"] in CORPORA:
        try:
            corpus = registry_corpus(data["source"], data["src_lang"], data["tgt_lang"])
        except ValueError as err:
            raise ConfigError(f"config error at data.src_lang/tgt_lang: {err}") from None
    sets = mono_sets(data)
    for index, entry in enumerate(data.get("mono") or []):
        if entry not in sets and not Path(entry).is_file():
            named = (f"data.source {data['source']} has the sets {', '.join(sets)}" if sets else
                     f"data.source {data['source']} has no monolingual set")
            raise ConfigError(f"config error at data.mono.{index}: {missing_file(entry)} "
                              f"({named}; anything else is a path)")
    if corpus is None:
        return
    ids = [f.id for f in corpus.files]
    for file_id, path in data.get("manual", {}).items():
        if file_id not in ids:
            raise ConfigError(f"config error at data.manual.{file_id}: {corpus.name} has no "
                              f"such file; its files are {', '.join(ids)}")
        if not Path(path).is_file():
            raise ConfigError(f"config error at data.manual.{file_id}: {missing_file(path)}")


def _check_experiment_name(name: str) -> None:
    """Every output goes under ``results_dir/experiment``: the name must be one plain directory
    name, so that no config value makes the pipeline write outside ``results_dir``. (The schema
    already limits it to ``[A-Za-z0-9_.-]``; student and method names, the other config values
    that become path parts, are limited to safe names there as well.)"""
    if name in (".", "..") or Path(name).name != name:
        raise ConfigError(f"config error at experiment: {name!r} is not a plain directory name "
                          "(outputs must stay inside results_dir)")


def shape(config: dict, name: str) -> dict:
    """Model keys of the teacher or of a named student (student keys default to the teacher's)."""
    keys = dict(config["teacher"]["model"])
    if name != "teacher":
        student = next(s for s in config["students"] if s["name"] == name)
        keys.update({k: v for k, v in student.items() if k not in ("name", "methods")})
    return keys


def search_settings(section: dict) -> SearchSettings:
    """The beam-search keys of a ``kd`` or ``evaluation`` section (which also holds other keys)."""
    return _settings(SearchSettings, section)


def engine_settings(section: dict) -> EngineSettings:
    """The decoding-engine keys of the ``kd`` section."""
    return _settings(EngineSettings, section)


def _settings(cls: type, section: dict):
    return cls(**{f.name: section[f.name] for f in dataclasses.fields(cls) if f.name in section})
