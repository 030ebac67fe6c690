"""A teacher sweep that anyone can rerun: each variant of a sweep file trains the experiment's
teacher with the variant's keys over a base config, through the pipeline itself, and is scored
on the **validation set only** (choices made from a sweep never look at a test set).

    python benchmarks/teacher_sweep.py configs/sweeps/multi30k_teacher.yaml \\
        --configfile my_data.yaml --cores 2 [--only anchor,anchor_w256]

A sweep file names its base config, a prefix for the variants' experiments and the variants:

    base: configs/multi30k_en_de.yaml
    prefix: m30k_sweep                 # variant <name> runs as experiment m30k_sweep_<name>
    variants:
      anchor: {teacher: {train: {lr: 0.005}}}    # any config keys, merged over the base

Each variant runs ``snakemake --cores N <its teacher>`` with ``--configfile`` base, the extra
files given here (data.manual, say: the variants' keys must not repeat theirs) and the variant's
own file (written under ``results_dir/sweeps/<prefix>/``), so a rerun resumes or skips it as
any pipeline run does (stopped, it resumes exactly: a sweep can be paused with SIGTERM to its
training job). Its row: parameters, updates and the step kept, what stopped it, the minutes of
updates (summed over resumptions) and of validation translations, the best greedy validation
BLEU of the training curve, and the final (averaged) model's BLEU, the
evaluation's BLEU variants and chrF on the validation set with the evaluation's beam search.
Prints a table and writes ``<prefix>.csv`` beside the variants' files.

A sweep file's ``caps: [3000, 4000]`` adds a row ``<name>@<cap>`` for each cap that a variant
trained with ``keep_models: true`` reached: the final model a run capped there would have
written (the inverse square-root schedule does not depend on the cap, so a shorter run follows
the same curve up to its end), scored the same way: one long run prices every budget.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import yaml

from wd.config import read_configs, search_settings, validate
from wd.io import read_lines, write_csv, write_lines

ROOT = Path(__file__).resolve().parent.parent


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def variant_config(files: list[Path], variant_file: Path) -> dict:
    """The config a variant runs with, validated and with the schema's defaults."""
    config = read_configs([*files, variant_file])
    validate(config)
    return config


def train(files: list[Path], variant_file: Path, teacher: Path, cores: int, log: Path) -> None:
    """The variant's teacher (a path relative to the repository, as the rules name their
    outputs) through the pipeline: resumed, or skipped when it is done."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), str(teacher),
           "--configfile", *map(str, files), str(variant_file)]
    with open(log, "a", encoding="utf-8") as out:
        done = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed (exit {done.returncode}); its output is in {log}")


def score_on_validation(config: dict, exp: Path, out: Path, model: Path | None = None) -> dict:
    """The BLEU (and the evaluation's variants) and chrF of the final teacher (or ``model``) on
    the validation set, decoded with the evaluation's beam search."""
    import json

    import torch

    from wd.evaluate.evaluate import TestSet, evaluate_system

    if not out.exists():
        torch.set_num_threads(config["threads"]["decode"])
        evaluation = config["evaluation"]
        evaluate_system(model or exp / "models/teacher/final.pt", exp / "bpe/spm.model",
                        [TestSet("valid", exp / "bpe/valid.src", [exp / "data/raw/valid.tgt"],
                                 out)],
                        config["data"]["tgt_lang"], search_settings(evaluation),
                        torch.device("cpu"), evaluation.get("bleu_variants", []))
    return json.loads(out.read_text(encoding="utf-8"))


def curve_rows(curve: Path, until: int) -> list[dict]:
    """The training curve's rows up to update ``until``."""
    return [r for r in csv.DictReader(read_lines(curve)) if int(r["step"]) <= until]


def curve_best(rows: list[dict]) -> tuple[str, str]:
    """The best greedy validation BLEU of a training curve and its step."""
    scored = [r for r in rows if r.get("valid_bleu")]
    if not scored:
        return "", ""
    best = max(scored, key=lambda r: float(r["valid_bleu"]))
    return best["valid_bleu"], best["step"]


def validation_minutes(rows: list[dict]) -> float:
    """Minutes the run spent translating its validation set (the curve's last row)."""
    return round(float(rows[-1]["translate_sec"]) / 60, 1) if rows else 0.0


def capped_model(config: dict, exp: Path, cap: int) -> Path:
    """The model a run of the variant capped at ``cap`` updates would have written, made from
    the checkpoints its longer run kept (``keep_models``), with that run's meta (it ends at the
    cap: a stop by patience before it would have ended the longer run there too)."""
    from wd.model.checkpoint import load_model, save_model
    from wd.settings import TrainSettings
    from wd.train.state import CheckpointStore

    out = exp / "sweep" / f"cap{cap}.pt"
    if not out.exists():
        train = config["teacher"]["train"]
        store = CheckpointStore(exp / "models/teacher/work", TrainSettings(**train))
        average, state = store.capped(cap)
        model, meta = load_model(exp / "models/teacher/final.pt")
        model.load_state_dict(average)
        save_model(model, out, {**meta, "train_steps": cap, "stopped_by": "steps",
                                "train_seconds": round(state["elapsed"], 2),
                                "best_step": state["best_step"]})
    return out


def row(name: str, config: dict, exp: Path, valid_json: dict) -> dict:
    curve = curve_rows(exp / "models/teacher/train_log.csv", valid_json["train_steps"])
    greedy, greedy_step = curve_best(curve)
    out = {"variant": name, "params": valid_json["params"],
           "updates": valid_json["train_steps"], "kept_step": valid_json.get("best_step", ""),
           "stopped_by": valid_json.get("stopped_by", ""),
           "update_minutes": round(valid_json["train_seconds"] / 60, 1),
           "validation_minutes": validation_minutes(curve),
           "greedy_valid_bleu": greedy, "greedy_best_step": greedy_step,
           "valid_bleu": round(valid_json["bleu"], 2), "valid_chrf": round(valid_json["chrf"], 2)}
    for variant in config["evaluation"].get("bleu_variants", []):
        out[f"valid_{variant}"] = round(valid_json[f"bleu_{variant}"], 2)
    out["beam"] = valid_json["beam"]
    return out


def markdown(rows: list[dict]) -> list[str]:
    keys = list(rows[0])
    return ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
            *("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", type=Path, help="the sweep file (base, prefix, variants)")
    ap.add_argument("--configfile", type=Path, nargs="*", default=[],
                    help="further config files for every variant (data.manual, threads, ...)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--only", help="comma-separated variant names (default: all, in order)")
    args = ap.parse_args()

    sweep = load_yaml(args.sweep)
    variants = sweep["variants"]
    names = args.only.split(",") if args.only else list(variants)
    unknown = [n for n in names if n not in variants]
    if unknown:
        sys.exit(f"{args.sweep}: no variant {', '.join(unknown)} (it has {', '.join(variants)})")
    files = [ROOT / sweep["base"], *(p.resolve() for p in args.configfile)]
    base = variant_config(files, ROOT / sweep["base"])
    where = ROOT / base["results_dir"] / "sweeps" / sweep["prefix"]
    where.mkdir(parents=True, exist_ok=True)

    for name in names:
        variant_file = where / f"{name}.yaml"
        write_lines(variant_file, yaml.safe_dump(
            {"experiment": f"{sweep['prefix']}_{name}", **variants[name]},
            sort_keys=False).splitlines())
        config = variant_config(files, variant_file)
        exp = ROOT / config["results_dir"] / config["experiment"]
        print(f"[sweep] {name}: training {exp}/models/teacher (log {where / name}.log)",
              flush=True)
        train(files, variant_file, exp.relative_to(ROOT) / "models/teacher/final.pt", args.cores,
              where / f"{name}.log")
        result = row(name, config, exp,
                     score_on_validation(config, exp, exp / "sweep/valid.json"))
        print("\n".join(markdown([result])[2:]), flush=True)

    rows = []  # every variant with a result, this invocation's or an earlier one's
    for name in variants:
        config = variant_config(files, where / f"{name}.yaml") if (
            where / f"{name}.yaml").exists() else None
        if config is None:
            continue
        exp = ROOT / config["results_dir"] / config["experiment"]
        if not (exp / "sweep/valid.json").exists():
            continue
        final = score_on_validation(config, exp, exp / "sweep/valid.json")
        for cap in sweep.get("caps", []):
            if cap < final["train_steps"] and config["teacher"]["train"].get("keep_models"):
                rows.append(row(f"{name}@{cap}", config, exp, score_on_validation(
                    config, exp, exp / f"sweep/cap{cap}.json", capped_model(config, exp, cap))))
        rows.append(row(name, config, exp, final))
    table = where / f"{sweep['prefix']}.csv"
    write_csv(table, rows)
    print("\n".join(markdown(rows)))
    print(f"[sweep] {table}")


if __name__ == "__main__":
    main()
