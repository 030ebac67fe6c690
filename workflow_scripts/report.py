"""Assemble results.csv / results.md (with significance from the hypotheses, per test set) and
save the config used beside them."""
import json
from pathlib import Path

import yaml

from wd.evaluate.report import build_report, write_tables
from wd.io import write_lines
from wd.workflow import per_testset, step

with step(snakemake):
    p, out = snakemake.params, snakemake.output
    inp = snakemake.input
    evals = per_testset(p.testsets, inp.evals, [len(p.systems)] * len(p.testsets))
    refs = per_testset(p.testsets, inp.refs, p.testsets.values())
    table = build_report(p.experiment, {
        name: ([(*system, path) for system, path in zip(p.systems, evals[name])], refs[name])
        for name in p.testsets}, inp.train_logs, inp.kd_records,
        json.loads(Path(inp.speeds).read_text()))
    write_tables(table, out[0], out[1])
    write_lines(out[2], yaml.safe_dump(dict(snakemake.config), sort_keys=False).splitlines())
