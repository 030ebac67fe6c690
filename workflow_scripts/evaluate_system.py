"""Decode and score every test set with one system (its speed: time_systems)."""
from wd.config import search_settings
from wd.data.shortlist import read_vmap
from wd.decode.ct2 import compute_types, variants
from wd.evaluate.evaluate import TestSet, evaluate_system
from wd.export.ct2 import vocabulary
from wd.workflow import per_testset, step

with step(snakemake) as device:
    inp, p = snakemake.input, snakemake.params
    refs = per_testset(p.testsets, inp.refs, p.testsets.values())
    testsets = [TestSet(name, src, refs[name], out)
                for name, src, out in zip(p.testsets, inp.srcs, snakemake.output.jsons)]
    vmap = inp.get("vmap")
    types = compute_types(p.search["ctranslate2"], device)
    evaluate_system(inp.model, bpe_model=inp.bpe, testsets=testsets, tgt_lang=p.tgt_lang,
                    search=search_settings(p.search), device=device,
                    bleu_variants=p.bleu_variants,
                    ct2_variants=variants(types, bool(vmap)),
                    engine=p.search["engine"],
                    shortlist=vmap and read_vmap(vmap, vocabulary(None, inp.bpe)))
