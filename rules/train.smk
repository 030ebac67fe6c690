# Teacher, sequence-level KD data, and every run of the students' methods (wd/methods.py: a
# chain of runs each; WD is its generator's Phase 1, then Phase 2).
if PRETRAINED:

    # The teacher is a pretrained MarianMT model, imported (wd.model.marian); where and why a
    # local rule: as import_tokenizer.
    rule import_teacher:
        input:
            local_files(PRETRAINED),
        output:
            model=TEACHER,
            curve=exp("models/teacher/train_log.csv"),
        log:
            exp("logs/train/teacher.log"),
        localrule: True
        params:
            source=PRETRAINED,
        script:
            "../workflow_scripts/import_teacher.py"

else:

    rule train_teacher:
        input:
            **TEACHER_PLAN.inputs,
        output:
            model=TEACHER,
            curve=exp("models/teacher/train_log.csv"),
        log:
            exp("logs/train/teacher.log"),
        benchmark:
            exp("benchmarks/train/teacher.tsv")
        # The teacher and its KD data are the critical path: never let a student start first.
        priority: 20
        threads: config["threads"]["teacher"]
        resources:
            gpu=config["gpus"],
        params:
            job=TEACHER_PLAN.job.to_dict(),
        script:
            "../workflow_scripts/train.py"


# KD data of each source part (train: the training sources; mono: the monolingual text of
# data.mono) in kd.shards contiguous shards, one decoding job each (parallel on a cluster),
# re-joined with every shard's line count checked. Shards are temporary: only kd/<part>.tgt is
# kept.
KD_SHARDS = list(range(config["kd"]["shards"]))
KD_SEARCH = {key: value for key, value in config["kd"].items() if key != "shards"}
# With CTranslate2 possible (kd.engine not ours), each shard records the engine that decoded it
# and its check against our decoder, for the results' kd_engine and kd_identical (when some run
# reads the KD data: else there is none).
KD_RECORDS = (
    {"record": exp("kd/engine/{part}.shard{shard}.json")}
    if USES_KD and config["kd"]["engine"] != "ours"
    else {}
)


rule kd_split:
    input:
        src=exp("bpe/{part}.src"),
    output:
        shards=temp(expand(exp("kd/shards/{{part}}.{shard}.src"), shard=KD_SHARDS)),
        counts=exp("kd/shards/{part}.counts.json"),
    log:
        exp("logs/kd/{part}.split.log"),
    # The decoders' threads keep this one-second job from sharing a small machine with the
    # teacher.
    priority: kd_priority
    threads: config["threads"]["decode"]
    script:
        "../workflow_scripts/kd_split.py"


rule kd_translate:
    input:
        model=TEACHER,
        bpe=BPE,
        src=exp("kd/shards/{part}.{shard}.src"),
    output:
        **KD_RECORDS,
        tgt=temp(exp("kd/shards/{part}.{shard}.tgt")),
    log:
        exp("logs/kd/{part}.translate.{shard}.log"),
    benchmark:
        exp("benchmarks/kd/{part}.translate.{shard}.tsv")
    wildcard_constraints:
        shard="[0-9]+",
    priority: kd_priority
    threads: config["threads"]["decode"]
    resources:
        gpu=config["gpus"],
    params:
        search=KD_SEARCH,
    script:
        "../workflow_scripts/kd_translate.py"


rule kd_join:
    input:
        shards=expand(exp("kd/shards/{{part}}.{shard}.tgt"), shard=KD_SHARDS),
        counts=exp("kd/shards/{part}.counts.json"),
    output:
        exp("kd/{part}.tgt"),
    log:
        exp("logs/kd/{part}.join.log"),
    priority: kd_priority
    script:
        "../workflow_scripts/kd_join.py"


# Every run of a student: a method's, or a link of its chain (WD's Phase 1 before Phase 2).
rule train_student:
    input:
        unpack(run_inputs),  # data, the model it starts from, the teacher its loss reads
    output:
        model=exp(run_dir("{student}", "{run_name}"), "final.pt"),
        curve=exp(run_dir("{student}", "{run_name}"), "train_log.csv"),
    log:
        exp("logs/train/{student}.{run_name}.seed{seed}.log"),
    benchmark:
        exp("benchmarks/train/{student}.{run_name}.seed{seed}.tsv")
    priority: run_priority
    threads: config["threads"]["student"]
    resources:
        gpu=config["gpus"],
    params:
        job=run_job,
    script:
        "../workflow_scripts/train.py"
