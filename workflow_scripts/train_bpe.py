"""Train the joint sentencepiece BPE model on both sides of the training data."""
from wd.data.bpe import train_bpe
from wd.workflow import step

with step(snakemake):
    train_bpe(list(snakemake.input), snakemake.output[0], snakemake.params.vocab_size,
              snakemake.params.seed)
