"""Train one run (the teacher, or a run of a student's method chain) as the rule's TrainJob
(wd.plan) says; torchrun workers when the job has several GPUs."""
from pathlib import Path

from wd.train.distributed import launch, processes_for
from wd.workflow import step

with step(snakemake) as device:
    job = snakemake.params.job
    launch("wd.pipeline:run_train_job", {"job": job}, device,
           processes_for(device, snakemake.resources.gpu), Path(job["work"]) / "launch.json")
