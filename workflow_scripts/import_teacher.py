"""Import the pretrained teacher (teacher.pretrained) as the experiment's teacher."""
from wd.pipeline import import_teacher
from wd.workflow import step

with step(snakemake):
    import_teacher(snakemake.params.source, snakemake.output.model, snakemake.output.curve)
