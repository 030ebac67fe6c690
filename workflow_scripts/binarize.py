"""Write the token ids of one BPE text as a memory-mapped .npy file (wd.data.binary)."""
from wd.data.binary import binarize
from wd.data.bpe import load_bpe
from wd.workflow import step

with step(snakemake):
    binarize(load_bpe(snakemake.input.model), snakemake.input.text, snakemake.output[0])
