"""Split the text file of one split and side into pieces (wd.data.bpe: ours, or the teacher's)."""
from wd.data.bpe import encode_file, load_bpe
from wd.workflow import step

with step(snakemake):
    encode_file(load_bpe(snakemake.input.model), snakemake.input.text, snakemake.output[0],
                snakemake.wildcards.side)
