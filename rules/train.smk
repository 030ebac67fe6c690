# Teacher, sequence-level KD data, students (scratch, kd, cutoff) and weight distillation
# (Phase 1 generator, then Phase 2 fine-tuning). All students of a shape get the same updates.
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
            job=TEACHER_PLAN.job,
        script:
            "../workflow_scripts/train.py"


# KD data in kd.shards contiguous shards, one decoding job each (parallel on a cluster), re-joined
# with every shard's line count checked. Shards are temporary: only kd/train.tgt is kept.
KD_SHARDS = list(range(config["kd"]["shards"]))
KD_SEARCH = {key: value for key, value in config["kd"].items() if key != "shards"}
# With CTranslate2 possible (kd.engine not ours), each shard records the engine that decoded it
# and its check against our decoder, for the results' kd_engine and kd_identical (when some run
# reads the KD data: else there is none).
KD_RECORDS = (
    {"record": exp("kd/engine/shard{shard}.json")}
    if USES_KD and config["kd"]["engine"] != "ours"
    else {}
)


rule kd_split:
    input:
        src=exp("bpe/train.src"),
    output:
        shards=temp(expand(exp("kd/shards/train.{shard}.src"), shard=KD_SHARDS)),
        counts=exp("kd/shards/counts.json"),
    log:
        exp("logs/kd/split.log"),
    # The KD steps share the teacher's top priority (the critical path); the decoders' threads
    # keep this one-second job from sharing a small machine with the teacher.
    priority: 20
    threads: config["threads"]["decode"]
    script:
        "../workflow_scripts/kd_split.py"


rule kd_translate:
    input:
        model=TEACHER,
        bpe=BPE,
        src=exp("kd/shards/train.{shard}.src"),
    output:
        **KD_RECORDS,
        tgt=temp(exp("kd/shards/train.{shard}.tgt")),
    log:
        exp("logs/kd/translate.{shard}.log"),
    benchmark:
        exp("benchmarks/kd/translate.{shard}.tsv")
    wildcard_constraints:
        shard="[0-9]+",
    priority: 20
    threads: config["threads"]["decode"]
    resources:
        gpu=config["gpus"],
    params:
        search=KD_SEARCH,
    script:
        "../workflow_scripts/kd_translate.py"


rule kd_join:
    input:
        shards=expand(exp("kd/shards/train.{shard}.tgt"), shard=KD_SHARDS),
        counts=exp("kd/shards/counts.json"),
    output:
        exp("kd/train.tgt"),
    log:
        exp("logs/kd/join.log"),
    priority: 20
    script:
        "../workflow_scripts/kd_join.py"


rule wd_phase1:
    input:
        unpack(phase1_inputs),  # the teacher; WD's data
    output:
        model=exp(phase1_dir("{student}", "{phase1}"), "final.pt"),
        curve=exp(phase1_dir("{student}", "{phase1}"), "train_log.csv"),
    log:
        exp("logs/train/{student}.wd_phase1_{phase1}.seed{seed}.log"),
    benchmark:
        exp("benchmarks/train/{student}.wd_phase1_{phase1}.seed{seed}.tsv")
    # WD runs two jobs in a row (Phase 1, then Phase 2): start them first to shorten the run.
    priority: 10
    threads: config["threads"]["student"]
    resources:
        gpu=config["gpus"],
    params:
        job=phase1_job,
    script:
        "../workflow_scripts/train.py"


rule train_student:
    input:
        unpack(student_inputs),
    output:
        model=exp(run_dir("{student}", "{method}"), "final.pt"),
        curve=exp(run_dir("{student}", "{method}"), "train_log.csv"),
    log:
        exp("logs/train/{student}.{method}.seed{seed}.log"),
    benchmark:
        exp("benchmarks/train/{student}.{method}.seed{seed}.tsv")
    threads: config["threads"]["student"]
    resources:
        gpu=config["gpus"],
    params:
        job=student_job,
    script:
        "../workflow_scripts/train.py"
