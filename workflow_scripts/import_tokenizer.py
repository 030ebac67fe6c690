"""Copy the pretrained teacher's tokenizer (teacher.pretrained) into the experiment."""
from wd.pretrained import copy_tokenizer
from wd.workflow import step

with step(snakemake):
    copy_tokenizer(snakemake.params.source, list(snakemake.output))
