"""Build the vocabulary map (vmap.txt) from the training data; record what it keeps of the
validation references (wd.data.shortlist)."""
from wd.data.binary import PairCorpus
from wd.data.shortlist import build_shortlist, coverage, write_vmap
from wd.export.ct2 import vocabulary
from wd.io import write_json
from wd.vocab import BOS_ID, PAD_ID
from wd.workflow import step

with step(snakemake):
    inp, p = snakemake.input, snakemake.params
    names = vocabulary(None, inp.bpe)  # the BPE pieces, CTranslate2's names for special ids
    shortlist = build_shortlist(inp.train, len(names), p.top_k, p.frequent, [PAD_ID, BOS_ID])
    write_vmap(shortlist, names, snakemake.output.vmap)
    write_json(snakemake.output.coverage, coverage(shortlist, PairCorpus(inp.valid)))
