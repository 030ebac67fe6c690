"""Copy a user's local corpus (plain or gzip, test references included) into the experiment:
UTF-8 and line counts checked, training data cleaned."""
from pathlib import Path

from wd.data.clean import CleanSettings
from wd.data.prepare import prepare_local
from wd.workflow import step

with step(snakemake):
    # data.max_eval_chars is read here, not passed as params: a limit that the data passes
    # changes no output, so changing it reruns nothing.
    prepare_local(snakemake.params.local, Path(snakemake.output[0]).parent,
                  tuple(snakemake.params.langs), CleanSettings(**snakemake.params.clean),
                  snakemake.config["data"]["max_eval_chars"])
