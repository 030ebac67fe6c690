# Weight Distillation (Lin et al., ACL 2021): data -> BPE -> teacher -> KD data -> students
# (scratch, kd, cutoff, wd) -> evaluation -> tables. All logic lives in the `wd` package; rules
# name files and call one script each.

configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"


rule all:
    input:
        TABLES,
    default_target: True
