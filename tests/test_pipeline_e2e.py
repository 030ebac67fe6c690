"""The real Snakemake DAG on a micro config: every step runs, the table holds real numbers."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

MICRO = REPO / "tests" / "micro.yaml"
METHODS = ["scratch", "kd", "cutoff", "kd_mixed", "cutoff_mixed", "wd", "wd_phase1_only",
           "wd_attention_only", "wd_warmup0", "kd_lr2x", "select", "prune", "wd_cutinit", "kd_ft"]


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    """Every method, one seed (several seeds: tests/test_local_e2e.py)."""
    results = tmp_path_factory.mktemp("results")
    run = run_snakemake("--cores", "2", "all", *micro_config(results))
    assert run.returncode == 0, run.stderr[-4000:]
    return results / "micro"


def micro_config(results: Path) -> list[str]:
    """The micro config, writing under ``results``."""
    return ["--configfile", str(MICRO), "--config", f"results_dir={results}"]


def test_adding_a_method_to_a_finished_run_decodes_only_that_method(micro_run):
    results = micro_run.parent
    (results / "more.yaml").write_text(f"methods: [{', '.join(METHODS)}, embed_kd]\n")
    run = run_snakemake("-n", "all", "--configfile", str(MICRO), str(results / "more.yaml"),
                        "--config", f"results_dir={results}")
    assert run.returncode == 0, run.stderr[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout.split("Job stats:")[1], re.M))
    # The tables, plots and packages read every system's row: they are remade (seconds each).
    assert int(stats.pop("total")) == sum(map(int, stats.values()))
    assert stats == {"train_student": "1", "evaluate_system": "1", "time_systems": "1",
                     "report": "1", "plots": "1", "package": str(len(METHODS) + 2), "all": "1"}
    evaluated = re.findall(r"rule evaluate_system:\n(?:\s+input: .*\n)\s+output: (.*)",
                           run.stdout)
    assert len(evaluated) == 1 and "/eval/tiny1/embed_kd/seed1/" in evaluated[0]


def test_table_has_every_system_with_real_numbers(micro_run):
    table = pd.read_csv(micro_run / "tables" / "results.csv")
    systems = list(zip(table.student, table.method, table.seed))
    assert systems[0] == ("teacher", "teacher", 1)
    assert sorted(systems[1:]) == sorted(("tiny1", m, 1) for m in METHODS)
    required = ["experiment", "student", "method", "seed", "testset", "bleu", "bleu_ci95_low",
                "bleu_ci95_high", "chrf", "bleu_signature", "params", "sents_per_sec",
                "tokens_per_sec", "speedup", "train_steps", "train_seconds", "device"]
    assert not table[required].isna().any().any()
    assert (table.experiment == "micro").all() and (table.testset == "test").all()
    assert table.bleu.between(0, 100).all() and table.chrf.between(0, 100).all()
    assert table.chrf.max() > 0  # scored real output, not empty files
    assert table.bleu_signature.str.contains("nrefs:1").all()
    assert table.loc[0, "speedup"] == 1.0 and (table.sents_per_sec > 0).all()
    # ctranslate2 is installed with the tests, and micro.yaml sets evaluation.ctranslate2: auto.
    assert table.loc[0, "ct2_speedup"] == 1.0 and (table.ct2_int8_sents_per_sec > 0).all()
    assert table.ct2_bleu.between(0, 100).all() and table.ct2_int8_bleu.between(0, 100).all()
    assert table.ct2_int8_vmap_bleu.between(0, 100).all()
    assert (table.ct2_int8_mb < table.ct2_mb).all() and (table.ct2_words_per_sec_1t > 0).all()
    # micro.yaml decodes the KD data with CTranslate2: the rows trained on it say so.
    on_kd = table.train_data.str.contains("kd")
    assert (table.kd_engine[on_kd] == "ctranslate2").all() and table.kd_engine[~on_kd].isna().all()
    assert table.kd_identical[on_kd].between(0, 1).all() and (table.eval_engine == "ours").all()
    assert (table.params[1:] < table.params[0]).all()
    students = table[(table.student == "tiny1") & (table.seed == 1)].set_index("method")
    # Equal budgets; the Phase-1-only ablation has only the Phase-1 share of it.
    equal_budget = ["scratch", "kd", "cutoff", "kd_mixed", "cutoff_mixed", "wd",
                    "wd_attention_only", "wd_warmup0", "kd_lr2x", "select", "prune",
                    "wd_cutinit"]
    assert set(students.train_steps[equal_budget]) == {20}
    assert students.train_steps["wd_phase1_only"] == 8
    assert students.train_steps["kd_ft"] == 20 + 2  # kd's run, then a tenth of the budget
    # Only attention tensors generated: fewer generator parameters... plus the free tensors.
    assert students.generator_params["wd"] > 0
    assert students.generator_params["wd_attention_only"] > 0
    assert students.delta_bleu_vs_kd["kd"] == 0.0
    assert dict(students.train_data) == {
        "scratch": "bitext", "kd": "kd", "cutoff": "kd", "kd_mixed": "bitext+kd",
        "cutoff_mixed": "bitext+kd", "wd": "bitext+kd", "wd_phase1_only": "bitext+kd",
        "wd_attention_only": "bitext+kd", "wd_warmup0": "bitext+kd", "kd_lr2x": "kd",
        "select": "kd", "prune": "bitext", "wd_cutinit": "bitext+kd",
        "kd_ft": "kd, then bitext"}
    # Validations at 10 and 20 of 20 updates (teacher: 15, 30 of 30); WD's phases (8 and 12
    # updates, validated at 8, and at 10 and 12) and kd_ft's 2 updates have none in their first
    # 80%: no value.
    plateau = table.set_index(["method", "seed"]).valid_loss_last_drop.drop("teacher", level=0)
    short = [m for m in METHODS if m.startswith("wd")] + ["kd_ft"]
    assert plateau.drop(short, level=0).between(-1, 1).all()
    assert plateau[short].isna().all() and -1 < table.valid_loss_last_drop[0] < 1
    assert (table.bleu_ci95_low <= table.bleu_ci95_high).all()
    compared = students.drop(index=["kd", "cutoff"])
    assert compared.p_vs_kd.between(0, 1).all() and compared.p_vs_cutoff.between(0, 1).all()


def test_outputs_line_counts_and_provenance(micro_run):
    kd = (micro_run / "kd" / "train.tgt").read_text().splitlines()
    assert len(kd) == len((micro_run / "bpe" / "train.src").read_text().splitlines()) == 400
    hyp = (micro_run / "eval" / "tiny1" / "wd" / "seed1" / "test.hyp").read_text().splitlines()
    assert len(hyp) == 40
    used = yaml.safe_load((micro_run / "tables" / "config.used.yaml").read_text())
    assert used["experiment"] == "micro" and used["student_train"]["steps"] == 20
    md = (micro_run / "tables" / "results.md").read_text()
    assert "## Student `tiny1`" in md and "| teacher |" in md
    teacher_log = (micro_run / "logs" / "train" / "teacher.log").read_text()
    assert all(f"update: {step} of 30 updates" in teacher_log for step in (10, 20, 30))
    assert teacher_log.count(", ETA ") >= 3
    env = yaml.safe_load((micro_run / "tables" / "env.used.yaml").read_text())
    assert env["libraries"]["torch"] and env["cpu"]["logical_cores"] >= 1
    assert (pd.read_csv(micro_run / "tables" / "results.csv").schema_version == 1).all()
    assert not list(micro_run.rglob("*.tmp"))
    assert "## As deployed: CTranslate2 on one thread" in md
    coverage = json.loads((micro_run / "deploy" / "vmap_coverage.json").read_text())
    assert 0 < coverage["piece_coverage"] <= 1
    for plot in ["bleu_vs_speed.png", "training_curves.png", "speed_quality.png"]:
        assert (micro_run / "plots" / plot).read_bytes()[:4] == b"\x89PNG"


def test_sweep_shares_phase1_and_changes_only_the_warmup(micro_run):
    models = micro_run / "models" / "tiny1"
    phase1_runs = [p.name for p in models.glob("wd_phase1_*") if (p / "seed1").is_dir()]
    assert sorted(phase1_runs) == ["wd_phase1_all", "wd_phase1_all_cutinit", "wd_phase1_attention"]
    wd_log = (models / "wd" / "seed1" / "train_log.csv").read_text().splitlines()
    sweep_log = (models / "wd_warmup0" / "seed1" / "train_log.csv").read_text().splitlines()
    first_lr = [float(log[1].split(",")[2]) for log in (wd_log, sweep_log)]
    assert first_lr[1] < first_lr[0]  # no warm-up: already decaying at the first log
    kd_lr = [[float(row.split(",")[2]) for row in (models / run / "seed1" / "train_log.csv")
              .read_text().splitlines()[1:]] for run in ("kd", "kd_lr2x")]
    assert kd_lr[1] == pytest.approx([2 * lr for lr in kd_lr[0]], rel=1e-2)  # logged to 3 digits


def test_rerun_has_nothing_to_do(micro_run):
    run = run_snakemake("-n", "all", *micro_config(micro_run.parent))
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_teacher_checkpoint_is_the_average_of_the_two_ending_at_its_best_step(micro_run):
    import torch
    work = micro_run / "models" / "teacher" / "work"
    final = torch.load(micro_run / "models" / "teacher" / "final.pt", weights_only=True)
    best = final["meta"]["best_step"]
    window = [step for step in (10, 20, 30) if step <= best][-2:]  # checkpoints every 10
    kept = {int(p.stem.split("_")[1]): p for p in work.glob("checkpoint_*.pt")}
    # The window at the best step (its optimizer state dropped once final.pt was written) and
    # the newest, whole: wd.train.state.CheckpointStore.shrink
    assert set(kept) == {*window, 30}
    assert ["optimizer" in torch.load(kept[step], weights_only=True) for step in sorted(kept)] \
        == [step == 30 for step in sorted(kept)]
    averaged = [torch.load(kept[step], weights_only=True)["model"] for step in window]
    name = "encoder.0.ffn.fc1.weight"
    torch.testing.assert_close(final["model"][name],
                               sum(m[name] for m in averaged) / len(averaged))


def test_a_package_reproduces_its_systems_test_hypotheses(micro_run, tmp_path):
    from wd.decode.cli import main as translate_main
    from wd.export.package import load_package
    package = micro_run / "models" / "tiny1" / "wd" / "package"
    assert load_package(package).config["system"] == {
        **load_package(package).config["system"], "student": "tiny1", "method": "wd", "seed": 1}
    assert (micro_run / "models" / "teacher" / "package" / "README.md").is_file()
    assert (package / "vmap.txt").is_file()  # evaluation.ctranslate2 auto: the map is shipped
    # The evaluated hypotheses are our decoder's over the whole vocabulary: without the map.
    translate_main(["--model", str(package), "--input", str(micro_run / "data/raw/test.src"),
                    "--output", str(tmp_path / "hyp"), "--no-vmap"])
    evaluated = micro_run / "eval" / "tiny1" / "wd" / "seed1" / "test.hyp"
    assert (tmp_path / "hyp").read_text() == evaluated.read_text()


def test_the_teachers_package_exports_to_transformers_and_generates_our_greedy_output(
        micro_run, tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    from wd.data.batching import pieces_to_ids
    from wd.data.bpe import load_bpe
    from wd.decode.search import translate
    from wd.export.hf import main as export_main
    from wd.export.package import load_package
    from wd.settings import SearchSettings
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    export_main([str(micro_run / "models" / "teacher" / "package"), str(tmp_path / "hf")])
    hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf").eval()
    package = load_package(micro_run / "models" / "teacher" / "package")
    sources = pieces_to_ids(load_bpe(package.bpe),
                            (micro_run / "bpe" / "test.src").read_text().splitlines())
    ours = translate(package.model, sources, SearchSettings(beam=1, max_len_b=60),
                     torch.device("cpu"))
    batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(s + [3]) for s in sources],
                                            batch_first=True)
    with torch.no_grad():
        generated = hf.generate(input_ids=batch, attention_mask=batch != 0, max_new_tokens=59)
    theirs = [[t for t in row[1:].tolist() if t not in (0, 3)] for row in generated]
    assert theirs == ours  # (the micro teacher's outputs run to the limit; the toy's end)
