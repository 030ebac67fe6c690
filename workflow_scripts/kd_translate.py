"""Sequence-level KD data: the teacher translates one shard of the training source with beam
search, with our decoder or CTranslate2 (kd_join puts the shards back together)."""
from wd.config import engine_settings, search_settings
from wd.decode.translate import translate_file
from wd.workflow import step

with step(snakemake) as device:
    inp, out, kd = snakemake.input, snakemake.output, snakemake.params.search
    translate_file(inp.model, inp.bpe, inp.src, out.tgt, search_settings(kd), device,
                   engine_settings(kd), getattr(out, "record", None))
