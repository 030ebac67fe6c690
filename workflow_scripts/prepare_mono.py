"""The monolingual source text of the KD data (data.mono), cleaned and deduplicated, with no
validation or test source sentence (wd.data.mono)."""
from wd.data.clean import CleanSettings
from wd.data.mono import prepare_mono
from wd.workflow import step

with step(snakemake):
    inp, p = snakemake.input, snakemake.params
    prepare_mono(list(inp.mono), snakemake.output[0], p.lang, CleanSettings(**p.clean),
                 inp.train, list(inp.evaluation))
