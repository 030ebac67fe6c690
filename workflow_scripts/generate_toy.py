"""Generate the synthetic toy language pair (raw train/valid/test files)."""
from pathlib import Path

from wd.data.toy import generate_toy_corpus
from wd.workflow import step

with step(snakemake):
    generate_toy_corpus(Path(snakemake.output[0]).parent, snakemake.params.seed,
                        dict(snakemake.params.sizes))
