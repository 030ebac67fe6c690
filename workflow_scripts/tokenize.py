"""Moses punctuation normalisation and tokenisation of one side of one split."""
from wd.data.text import tokenize_file
from wd.workflow import step

with step(snakemake):
    tokenize_file(snakemake.input[0], snakemake.output[0], snakemake.params.lang,
                  workers=snakemake.threads)
