"""Join the decoded KD shards in order, each checked against its recorded line count."""
from wd.data.shards import join_files
from wd.workflow import step

with step(snakemake):
    join_files(list(snakemake.input.shards), snakemake.input.counts, snakemake.output[0])
