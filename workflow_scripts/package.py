"""Write the model package of one evaluated system (wd.export.package), with its results row."""
import pandas as pd

from wd.config import search_settings
from wd.export.package import write_package
from wd.workflow import step

with step(snakemake):
    inp, p = snakemake.input, snakemake.params
    student, method, seed = p.system
    table = pd.read_csv(inp.table)
    table = table[table.testset == table.testset.iloc[0]]  # the primary (timed) test set
    row = table[(table.student == student) & (table.method == method) & (table.seed == seed)]
    write_package(snakemake.output[0], inp.model, inp.bpe,
                  {"experiment": p.experiment, "student": student, "method": method,
                   "seed": seed}, p.languages, search_settings(p.search), inp.teacher,
                  row.iloc[0].to_dict(), inp.get("vmap"))
