"""Fetch one registry file (pinned URL, data.mirror or a data.manual copy), checksum-verified."""
from wd.data.corpora import registry_corpus
from wd.data.download import DownloadSettings, fetch
from wd.workflow import step

with step(snakemake):
    data = snakemake.config["data"]
    remote = next(f for f in registry_corpus(*snakemake.params.corpus).files
                  if f.name == snakemake.wildcards.file)
    fetch(remote, snakemake.output[0], mirror=data.get("mirror"),
          manual=data.get("manual", {}).get(remote.id),
          settings=DownloadSettings(**data["download"]))
