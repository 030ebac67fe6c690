"""Decode the test set with every system in this one job; time and score each; record the
versions and the machine (wd.provenance)."""
import yaml

from wd.config import search_settings
from wd.ct2_decode import compute_types
from wd.evaluate import evaluate_all
from wd.io import write_lines
from wd.provenance import environment
from wd.workflow import step

with step(snakemake) as device:
    inp, p = snakemake.input, snakemake.params
    systems = {name: (model, out)
               for name, model, out in zip(p.names, inp.models, snakemake.output.jsons)}
    evaluate_all(systems, bpe_model=inp.bpe, src_pieces=inp.src, references=list(inp.refs),
                 tgt_lang=p.tgt_lang, search=search_settings(p.search), device=device,
                 bleu_variants=p.bleu_variants, timed_passes=p.search["timed_passes"],
                 ct2_types=compute_types(p.search["ctranslate2"], device))
    write_lines(snakemake.output.env, yaml.safe_dump(environment(), sort_keys=False).splitlines())
