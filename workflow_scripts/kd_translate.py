"""Sequence-level KD data: the teacher translates one shard of the training source with beam
search (kd_join puts the shards back together)."""
from wd.config import search_settings
from wd.pipeline import translate_file
from wd.workflow import step

with step(snakemake) as device:
    inp = snakemake.input
    translate_file(inp.model, inp.bpe, inp.src, snakemake.output[0],
                   search_settings(snakemake.params.search), device)
