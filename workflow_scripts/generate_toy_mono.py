"""Generate the toy pair's monolingual source text (data.toy.mono sentences)."""
from wd.data.toy import generate_toy_mono
from wd.workflow import step

with step(snakemake):
    generate_toy_mono(snakemake.output[0], snakemake.params.seed, snakemake.params.size)
