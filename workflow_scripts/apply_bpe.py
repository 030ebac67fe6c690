"""Split one tokenised file into BPE pieces."""
from wd.data.bpe import encode_file, load_bpe
from wd.workflow import step

with step(snakemake):
    encode_file(load_bpe(snakemake.input.model), snakemake.input.text, snakemake.output[0])
