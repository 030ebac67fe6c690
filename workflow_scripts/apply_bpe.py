"""Split the text files of one side into pieces (wd.data.bpe: ours, or the teacher's)."""
from wd.data.bpe import encode_file, load_bpe
from wd.workflow import step

with step(snakemake):
    sp = load_bpe(snakemake.input.model)
    for text, out in zip(snakemake.input.text, snakemake.output):
        encode_file(sp, text, out, snakemake.wildcards.side)
