"""Train the teacher (torchrun workers when the job has several GPUs); its final model is the
average of its last checkpoints."""
from pathlib import Path

from wd.distributed import launch, processes_for
from wd.workflow import step

with step(snakemake) as device:
    inp, out, p = snakemake.input, snakemake.output, snakemake.params
    job = dict(bpe=inp.bpe, train=list(inp.train), valid=list(inp.valid), config=snakemake.config,
               shape=p.model, section=p.train, work=p.work, model_out=out.model,
               curve_out=out.curve)
    launch("wd.pipeline:train_job", job, device, processes_for(device, snakemake.resources.gpu),
           Path(p.work) / "launch.json")
