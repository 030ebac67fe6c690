"""Train one student: from scratch, cut-off initialised from the teacher, or (WD Phase 2)
fine-tuned from the converted Phase-1 student (torchrun workers when the job has several GPUs)."""
from pathlib import Path

from wd.distributed import launch, processes_for
from wd.workflow import step

with step(snakemake) as device:
    inp, out, p = snakemake.input, snakemake.output, snakemake.params
    job = dict(bpe=inp.bpe, train=list(inp.train), valid=list(inp.valid), config=snakemake.config,
               shape=p.model, section=p.train, work=p.work, model_out=out.model,
               curve_out=out.curve, seed=p.seed, init=p.init, init_from=inp.get("init"))
    launch("wd.pipeline:train_job", job, device, processes_for(device, snakemake.resources.gpu),
           Path(p.work) / "launch.json")
