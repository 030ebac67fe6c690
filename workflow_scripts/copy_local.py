"""Copy a user's local corpus into the experiment, checking UTF-8 and line alignment."""
from wd.data.text import check_aligned, read_lines, write_lines
from wd.workflow import step

with step(snakemake):
    files = list(snakemake.input)
    for src, tgt in zip(files[0::2], files[1::2]):
        check_aligned(src, tgt)
    for source, target in zip(files, snakemake.output):
        write_lines(target, read_lines(source))
