# Evaluation: each system decodes and scores every test set in its own job (a new system adds
# only its own), one job times all systems together on the primary test set (speed-ups are
# ratios measured together), then tables with confidence intervals and significance from the
# hypotheses.


rule shortlist:
    input:
        train=PLAN.train_files("bitext+kd" if USES_KD else "bitext"),
        valid=PLAN.valid,  # what the map keeps of the validation references
        bpe=BPE,
    output:
        vmap=exp("deploy/vmap.txt"),
        coverage=exp("deploy/vmap_coverage.json"),
    log:
        exp("logs/shortlist.log"),
    params:
        top_k=config["deploy"]["vmap_top_k"],
        frequent=config["deploy"]["vmap_frequent"],
    script:
        "../workflow_scripts/shortlist.py"


rule evaluate_system:
    input:
        **VMAP,
        model=lambda wildcards: model_path(wildcards.student, wildcards.method, int(wildcards.seed)),
        bpe=BPE,
        srcs=[exp(f"bpe/{testset}.src") for testset in TESTSETS],
        refs=ALL_TEST_REFS,  # every reference of each test set: signatures say nrefs:N
    output:
        jsons=[exp(f"eval/{{student}}/{{method}}/seed{{seed}}/{t}.json") for t in TESTSETS],
        hyps=[exp(f"eval/{{student}}/{{method}}/seed{{seed}}/{t}.hyp") for t in TESTSETS],
    log:
        exp("logs/evaluate/{student}.{method}.seed{seed}.log"),
    benchmark:
        exp("benchmarks/evaluate/{student}.{method}.seed{seed}.tsv")
    wildcard_constraints:
        student="|".join(["teacher", *STUDENTS]),
        method=methods.evaluated_pattern(),
        seed="[0-9]+",
    threads: config["threads"]["decode"]
    resources:
        gpu=config["gpus"],
    params:
        testsets={testset: len(refs) for testset, refs in TEST_REFS.items()},
        search=config["evaluation"],
        bleu_variants=config["evaluation"]["bleu_variants"],
        tgt_lang=config["data"]["tgt_lang"],
    script:
        "../workflow_scripts/evaluate_system.py"


rule time_systems:
    input:
        **VMAP,
        models=[model_path(*system) for system in SYSTEMS],
        bpe=BPE,
        src=exp(f"bpe/{TESTSETS[0]}.src"),
    output:
        speeds=SPEEDS,
        env=ENV_USED,  # versions and the machine whose speeds the table reports
    log:
        exp("logs/time_systems.log"),
    benchmark:
        exp("benchmarks/time_systems.tsv")
    threads: config["threads"]["decode"]
    resources:
        gpu=config["gpus"],
    params:
        names=["/".join(map(str, system)) for system in SYSTEMS],
        search=config["evaluation"],
        tgt_lang=config["data"]["tgt_lang"],
    script:
        "../workflow_scripts/time_systems.py"


rule report:
    input:
        evals=ALL_EVALS,
        hyps=ALL_HYPS,  # read beside each json, with the references, for the significance columns
        refs=ALL_TEST_REFS,
        train_logs=TRAIN_LOGS,  # one per system: valid_loss_last_drop
        # kd_engine: the engine of the training sources' KD data
        kd_records=expand(KD_RECORDS.get("record", []), part="train", shard=KD_SHARDS),
        speeds=SPEEDS,  # the primary test set's speed columns
    output:
        report(TABLES[0], caption="../report/results.rst", category="Results"),
        TABLES[1],
        TABLES[2],
    log:
        exp("logs/report.log"),
    params:
        experiment=config["experiment"],
        systems=SYSTEMS,
        testsets={testset: len(refs) for testset, refs in TEST_REFS.items()},
    script:
        "../workflow_scripts/report.py"


rule plots:
    input:
        table=TABLES[0],
        curves=CURVE_FILES,
    output:
        speed=report(PLOTS[0], caption="../report/bleu_vs_speed.rst", category="Plots"),
        curves=report(PLOTS[1], caption="../report/training_curves.rst", category="Plots"),
        frontier=report(PLOTS[2], caption="../report/speed_quality.rst", category="Plots"),
    log:
        exp("logs/plots.log"),
    params:
        curves=CURVES,
    script:
        "../workflow_scripts/plots.py"


rule package:
    input:
        **VMAP,
        model=lambda wildcards: model_path(*PACKAGE_SYSTEMS[wildcards.system]),
        bpe=BPE,
        table=TABLES[0],  # the system's row goes into the model card
        teacher=TEACHER,  # its digest goes into config.json
    output:
        directory(exp("models/{system}/package")),
    log:
        exp("logs/package/{system}.log"),
    wildcard_constraints:
        system="|".join(PACKAGE_SYSTEMS),
    params:
        system=lambda wildcards: PACKAGE_SYSTEMS[wildcards.system],
        experiment=config["experiment"],
        languages={"src": SIDES["src"], "tgt": SIDES["tgt"]},
        search=config["evaluation"],
    script:
        "../workflow_scripts/package.py"
