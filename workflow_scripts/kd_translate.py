"""Sequence-level KD data: the teacher translates the training source with beam search."""
from wd.config import search_settings
from wd.pipeline import translate_file
from wd.workflow import step

with step(snakemake) as device:
    inp = snakemake.input
    translate_file(inp.model, inp.bpe, inp.src, snakemake.output[0],
                   search_settings(snakemake.params.search), device)
