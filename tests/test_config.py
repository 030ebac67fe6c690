"""Bad configuration values stop the run with one line naming the key."""
import copy
import dataclasses

import pytest
import yaml

from conftest import DEFAULT_CONFIG as DEFAULT
from conftest import REPO, run_snakemake, with_change
from wd.config import SCHEMA, ConfigError, rename_methods, shape, student_methods, validate
from wd.data.clean import CleanSettings
from wd.data.download import DownloadSettings
from wd.settings import SearchSettings, TrainSettings
from wd.train.losses import LOSSES


def test_default_config_is_valid():
    validate(DEFAULT)


@pytest.mark.parametrize(("path", "value", "message"), [
    ("bogus", 1, "(top level): Additional properties are not allowed ('bogus'"),
    ("teacher.model.enc_layers", -2, "teacher.model.enc_layers: -2 is less than the minimum"),
    ("students.0.dec_dim", 0, "students.0.dec_dim: 0 is less than the minimum"),
    ("students.0.dec_heads", 5, "students.0 (stu1): model width must be divisible"),
    ("students.0.colour", 3, "students.0: Unevaluated properties are not allowed ('colour'"),
    ("student_train.lr", "fast", "student_train.lr: 'fast' is not of type 'number'"),
    ("methods", ["kd", "distil"], "methods.1: unknown method 'distil'"),
    ("students.1.methods", ["wd", "wd_no_tea"], "students.1.methods.1: unknown method 'wd_no_tea'"),
    ("students.1.methods", [], "students.1.methods: [] should be non-empty"),
    ("wd.phase1_steps", 10_000, "wd.phase1_steps: must be below student_train.steps"),
    ("data.source", "local", "data.local: required when data.source is local"),
    ("data.local", {"train": {"src": "nope.en", "tgt": "nope.ro"},
                    "valid": {"src": "nope.en", "tgt": "nope.ro"},
                    "test": {"src": "nope.en", "tgt": "nope.ro"}},
     "data.local.train.src: file not found: nope.en"),
])
def test_bad_values_name_their_key(path, value, message):
    config = with_change(path, value)
    if path == "data.local":
        config["data"]["source"] = "local"
    with pytest.raises(ConfigError) as err:
        validate(config)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("method", "change", "message"), [
    ("prune", {"dec_dim": 48, "dec_heads": 2}, "pruning keeps whole teacher heads: dec_dim must "
                                               "be a multiple of the teacher's head width 32"),
    ("prune", {"dec_heads": 4}, None),  # 2 teacher heads, read as 4 heads of 16
    ("prune", {"dec_layers": 4}, "pruning needs a student no larger than the teacher: "
                                 "dec_layers 4 > 3"),
    ("select", {"dec_ffn": 1024}, "weight selection needs a student no larger than the teacher: "
                                  "dec_ffn 1024 > 512"),
    ("cutoff", {"dec_ffn": 1024}, None),  # cut-off pads a wider student with zeros
])
def test_shapes_an_initialisation_cannot_make_are_refused_at_start_up(method, change, message):
    config = copy.deepcopy(DEFAULT)
    config["students"][0].update(change, methods=[method])
    if message is None:
        validate(config)
        return
    with pytest.raises(ConfigError, match="^config error at students.0 \\(stu1\\): ") as err:
        validate(config)
    assert message in str(err.value)


def test_a_student_may_have_its_own_methods():
    config = with_change("students.1.methods", ["kd", "wd_p2wu5"])
    assert rename_methods(config) == [
        "config warning at students.1.methods.1: wd_p2wu5 is now called wd_warmup5"]
    validate(config)
    assert student_methods(config, "stu2") == ["kd", "wd_warmup5"]
    assert student_methods(config, "stu1") == config["methods"]
    assert "methods" not in shape(config, "stu2")


@pytest.mark.workflow
def test_snakemake_stops_with_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("students:\n  - {name: stu1, dec_layers: -1}\n")
    run = run_snakemake("-n", "--configfile", str(bad))
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == (
        "config error at students.0.dec_layers: -1 is less than the minimum of 1")


def merged(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, dictionaries merged key by key (as snakemake does)."""
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = merged(base[key], value) if both else value
    return out


PAPER = ["wmt16_en_ro", "wmt14_en_de", "nist12_zh_en"]


@pytest.mark.parametrize("name", PAPER)
def test_paper_configs_follow_the_released_recipe(name):
    config = merged(DEFAULT, yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text()))
    for model in ("teacher", "stu1", "stu2"):
        assert shape(config, model)["tie_output"] is False, model  # untied output projection
    stu1 = shape(config, "stu1")
    assert (stu1["dec_dim"], stu1["dec_heads"]) == (256, 8)  # 8 heads of 32
    for section in ("kd", "evaluation"):
        assert (config[section]["max_len_a"], config[section]["max_len_b"]) == (0, 200)
    assert config["evaluation"]["batch_size"] == 64


@pytest.mark.workflow
@pytest.mark.parametrize("name", PAPER[:2])  # NIST needs the user's licensed files
def test_paper_configs_plan(name, tmp_path):
    run = run_snakemake("-n", "all", "--configfile", f"configs/{name}.yaml", "--config",
                        f"results_dir={tmp_path}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "wd_phase1" in run.stdout and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("key", "package", "off", "on"), [
    ("logging.tensorboard", "tensorboard", [False], True),
    ("evaluation.ctranslate2", "ctranslate2", [False, "auto"], True),  # auto: where installed
    ("kd.engine", "ctranslate2", ["ours", "auto"], "ctranslate2"),
    ("evaluation.engine", "ctranslate2", ["ours", "auto"], "ctranslate2"),
])
def test_a_feature_whose_package_is_missing_is_refused_at_start_up(key, package, off, on,
                                                                   monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == package else real(name, *a))
    section, name = key.split(".")

    def config(value):
        changed = copy.deepcopy(DEFAULT)
        changed.setdefault(section, {})[name] = value
        return changed
    for value in off:
        validate(config(value))
    with pytest.raises(ConfigError, match=f"^config error at {key}: {str(on).lower()} needs the "
                                          f"{package} package: pip install"):
        validate(config(on))


def test_schema_defaults_are_filled_in_once_at_validation():
    config = copy.deepcopy(DEFAULT)
    del config["seeds"], config["kd"]["shards"], config["evaluation"]["timed_passes"]
    del config["wd"]["phase2"]
    config["data"]["download"] = {"retries": 1}
    validate(config)
    assert config["seeds"] == [1] and config["kd"]["shards"] == 1
    assert config["evaluation"]["timed_passes"] == 3 and config["evaluation"]["bleu_variants"] == []
    assert config["wd"]["phase2"] == {}
    assert config["data"]["download"] == {"retries": 1, "timeout": 60, "backoff": 2}
    assert config["data"]["clean"] == {"max_len": 250, "max_ratio": 3.0}  # a default object, filled
    assert "max_bad_steps" in config["teacher"]["train"]  # through $ref
    assert "mirror" not in config["data"]  # no default: stays absent
    config["seeds"] = [2]
    validate(config)  # a given value is never replaced
    assert config["seeds"] == [2]


@pytest.mark.parametrize(("cls", "where"), [
    (SearchSettings, "$defs.search"), (TrainSettings, "$defs.train"),
    (CleanSettings, "properties.data.properties.clean"),
    (DownloadSettings, "properties.data.properties.download"),
])
def test_dataclass_defaults_agree_with_the_schema(cls, where):
    """Code that builds these objects outside a validated config (tests, benchmarks, the CLI)
    must get the schema's defaults."""
    node = yaml.safe_load(SCHEMA.read_text())
    for key in where.split("."):
        node = node[key]
    given = {f.name: f.default for f in dataclasses.fields(cls)
             if f.default is not dataclasses.MISSING}
    defaults = {key: sub["default"] for key, sub in node["properties"].items() if "default" in sub}
    assert defaults and all(given[key] == value for key, value in defaults.items()), defaults


def test_toy_ablations_keep_the_default_shapes_and_run_on_stu1():
    """The ablations reuse the default run: same experiment, same student shapes; stu1 gets the
    sensitivity studies, stu2 the default methods."""
    config = merged(DEFAULT, yaml.safe_load((REPO / "configs" / "toy_ablations.yaml").read_text()))
    validate(config)
    assert config["experiment"] == DEFAULT["experiment"]
    for student in ("stu1", "stu2"):
        assert shape(config, student) == shape(DEFAULT, student)
    stu1 = student_methods(config, "stu1")
    assert stu1[:len(DEFAULT["methods"])] == DEFAULT["methods"]
    assert {f"wd_no_{part}" for part in ("encoder", "decoder", "attention", "ffn")} <= set(stu1)
    assert {"kd_lr0.5x", "kd_lr2x", "wd_lr0.5x", "wd_lr2x"} <= set(stu1)
    assert student_methods(config, "stu2") == DEFAULT["methods"]


def test_the_schema_names_exactly_the_registered_losses():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["$defs"]["train"]["properties"]["loss"]["enum"] == list(LOSSES)


def test_the_schemas_data_sources_are_toy_local_and_the_registrys_corpora():
    """The schema lists data.source's values itself (it is read without the package); it must
    name every registry corpus and nothing else."""
    from wd.data.corpora import CORPORA
    sources = yaml.safe_load(SCHEMA.read_text())["properties"]["data"]["properties"]["source"]
    assert sorted(sources["enum"]) == sorted(["toy", "local", *CORPORA])
