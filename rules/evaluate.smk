# Evaluation of every system in one job (speed-ups are ratios measured together), then tables.


rule evaluate:
    input:
        models=[model_path(s, m) for s, m in SYSTEMS],
        bpe=exp("bpe/spm.model"),
        src=exp("bpe/test.src"),
        ref=exp("data/raw/test.tgt"),
    output:
        EVALS,
    log:
        exp("logs/evaluate.log"),
    benchmark:
        exp("benchmarks/evaluate.tsv")
    params:
        names=[f"{s}/{m}" for s, m in SYSTEMS],
        search=config["evaluation"],
        tgt_lang=config["data"]["tgt_lang"],
    threads: config["threads"]["decode"]
    resources:
        gpu=config["gpus"],
    script:
        "../workflow_scripts/evaluate.py"


rule report:
    input:
        EVALS,
    output:
        TABLES,
    log:
        exp("logs/report.log"),
    params:
        experiment=config["experiment"],
        systems=SYSTEMS,
    script:
        "../workflow_scripts/report.py"
