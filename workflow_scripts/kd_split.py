"""Split the BPE training source into kd.shards contiguous shards, one KD decoding job each."""
from wd.data.shards import split_file
from wd.workflow import step

with step(snakemake):
    split_file(snakemake.input.src, list(snakemake.output.shards), snakemake.output.counts)
