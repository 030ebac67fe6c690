# Data: raw corpus (generated toy pair or local files) -> Moses tokens -> joint BPE pieces.
RAW = expand(exp("data/raw/{split}.{side}"), split=["train", "valid", "test"], side=["src", "tgt"])

if config["data"]["source"] == "toy":

    rule generate_toy:
        output:
            RAW,
        log:
            exp("logs/generate_toy.log"),
        params:
            sizes=config["data"]["toy"],
            seed=config["seed"],
        script:
            "../workflow_scripts/generate_toy.py"

else:

    rule copy_local:
        input:
            [config["data"]["local"][split][side] for split in ["train", "valid", "test"] for side in ["src", "tgt"]],
        output:
            RAW,
        log:
            exp("logs/copy_local.log"),
        script:
            "../workflow_scripts/copy_local.py"


rule tokenize:
    input:
        exp("data/raw/{split}.{side}"),
    output:
        exp("data/tok/{split}.{side}"),
    log:
        exp("logs/tokenize/{split}.{side}.log"),
    params:
        lang=lambda wc: SIDES[wc.side],
    script:
        "../workflow_scripts/tokenize.py"


rule train_bpe:
    input:
        exp("data/tok/train.src"),
        exp("data/tok/train.tgt"),
    output:
        exp("bpe/spm.model"),
    log:
        exp("logs/train_bpe.log"),
    params:
        vocab_size=config["bpe"]["vocab_size"],
        seed=config["seed"],
    script:
        "../workflow_scripts/train_bpe.py"


rule apply_bpe:
    # One job per side (all splits): the two run together and end together, so the teacher (two
    # threads, top priority) starts next instead of a student slipping into a free core.
    input:
        model=exp("bpe/spm.model"),
        text=expand(exp("data/tok/{split}.{{side}}"), split=["train", "valid", "test"]),
    output:
        expand(exp("bpe/{split}.{{side}}"), split=["train", "valid", "test"]),
    log:
        exp("logs/apply_bpe/{side}.log"),
    script:
        "../workflow_scripts/apply_bpe.py"
