"""Train one model (the teacher, a student, or WD Phase 1) as the rule's TrainJob says; torchrun
workers when the job has several GPUs."""
from dataclasses import asdict
from pathlib import Path

from wd.pipeline import TrainJob
from wd.train.distributed import launch, processes_for
from wd.workflow import step

with step(snakemake) as device:
    inp, out = snakemake.input, snakemake.output
    job = TrainJob(bpe=inp.bpe, train=list(inp.train), valid=list(inp.valid),
                   init_from=inp.get("init"), teacher=inp.get("teacher"),
                   valid_refs=inp.get("valid_refs"), model_out=out.model,
                   curve_out=out.curve,
                   **snakemake.params.job)
    launch("wd.pipeline:run_train_job", {"job": asdict(job)}, device,
           processes_for(device, snakemake.resources.gpu), Path(job.work) / "launch.json")
