"""Raw source/target files of one split of a registry corpus from its downloaded files."""
from pathlib import Path

from wd.data.clean import CleanSettings
from wd.data.corpora import registry_corpus
from wd.data.prepare import prepare_remote_split
from wd.workflow import step

with step(snakemake):
    corpus = registry_corpus(*snakemake.params.corpus)
    split = snakemake.wildcards.split
    downloads = {f.id: Path(path) for f, path in zip(corpus.split_files(split), snakemake.input)}
    prepare_remote_split(corpus, split, downloads, snakemake.output[0], snakemake.output[1],
                         CleanSettings(**snakemake.params.clean),
                         snakemake.config["data"]["max_eval_chars"])  # as in copy_local.py
