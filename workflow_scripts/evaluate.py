"""Decode the test sets with every system in this one job; time (on the primary test set) and
score each; record the versions and the machine (wd.evaluate.provenance)."""
import yaml

from wd.config import search_settings
from wd.decode.ct2 import compute_types
from wd.evaluate.evaluate import TestSet, evaluate_all
from wd.evaluate.provenance import environment
from wd.io import write_lines
from wd.workflow import per_testset, step

with step(snakemake) as device:
    inp, p = snakemake.input, snakemake.params
    refs = per_testset(p.testsets, inp.refs, p.testsets.values())
    jsons = per_testset(p.testsets, snakemake.output.jsons, [len(p.names)] * len(p.testsets))
    testsets = [TestSet(name, src, refs[name], dict(zip(p.names, jsons[name])))
                for name, src in zip(p.testsets, inp.srcs)]
    evaluate_all(dict(zip(p.names, inp.models)), bpe_model=inp.bpe, testsets=testsets,
                 tgt_lang=p.tgt_lang, search=search_settings(p.search), device=device,
                 bleu_variants=p.bleu_variants, timed_passes=p.search["timed_passes"],
                 ct2_types=compute_types(p.search["ctranslate2"], device))
    write_lines(snakemake.output.env, yaml.safe_dump(environment(), sort_keys=False).splitlines())
