"""Assemble results.csv / results.md (with significance from the hypotheses) and save the config
used beside them."""
import yaml

from wd.io import write_lines
from wd.report import build_table, write_tables
from wd.workflow import step

with step(snakemake):
    p, out = snakemake.params, snakemake.output
    inp = snakemake.input
    table = build_table(p.experiment,
                        [(*system, path) for system, path in zip(p.systems, inp.evals)], inp.refs,
                        inp.train_logs)
    write_tables(table, out[0], out[1])
    write_lines(out[2], yaml.safe_dump(dict(snakemake.config), sort_keys=False).splitlines())
