"""Time every system together on the primary test set (wd.evaluate.evaluate.time_systems), and
each CTranslate2 variant as deployed; record the versions and the machine (wd.provenance)."""
import yaml

from wd.config import search_settings
from wd.data.shortlist import read_vmap
from wd.decode.ct2 import compute_types, variants
from wd.evaluate.evaluate import time_systems
from wd.export.ct2 import vocabulary
from wd.io import write_json, write_lines
from wd.provenance import environment
from wd.workflow import step

with step(snakemake) as device:
    inp, p = snakemake.input, snakemake.params
    vmap = inp.get("vmap")
    speeds = time_systems(dict(zip(p.names, inp.models)), inp.bpe, inp.src,
                          search_settings(p.search), device, p.search["timed_passes"],
                          p.search["timed_sentences"],
                          variants(compute_types(p.search["ctranslate2"], device), bool(vmap)),
                          vmap and read_vmap(vmap, vocabulary(None, inp.bpe)), p.tgt_lang)
    write_json(snakemake.output.speeds, speeds)
    write_lines(snakemake.output.env, yaml.safe_dump(environment(), sort_keys=False).splitlines())
