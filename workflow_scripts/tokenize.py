"""Moses punctuation normalisation and tokenisation of one side of one split."""
from wd.data.text import tokenize
from wd.io import read_lines, write_lines
from wd.workflow import step

with step(snakemake):
    lang = snakemake.params.lang
    lines = read_lines(snakemake.input[0])
    write_lines(snakemake.output[0], (tokenize(line, lang) for line in lines))
