# Weight Distillation (Lin et al., ACL 2021): data -> BPE -> teacher -> KD data -> students
# (scratch, kd, cutoff, wd) -> evaluation -> tables. All logic lives in the `wd` package; rules
# name files and call one script each.
#
# `snakemake --lint` reports one finding per rule, "Specify a conda environment or container":
# deliberately not done. Every rule runs the same `wd` package from the environment that
# `pip install -e .` built (pyproject.toml pins the dependencies); per-rule conda environments
# would install PyTorch once per rule and could not share the CPU/GPU build the user chose.


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"


rule all:
    default_target: True
    input:
        TABLES,
        ENV_USED,
        PLOTS,
        PACKAGES,
