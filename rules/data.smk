# Data: raw corpus (generated toy pair, local files, or a registry corpus downloaded and
# checksum-verified) -> Moses tokens -> joint BPE pieces. Nothing is fetched at parse time.
import re

from wd.data.corpora import registry_corpus
from wd.data.prepare import local_inputs

RAW = expand(exp("data/raw/{split}.{side}"), split=SPLITS, side=["src", "tgt"])
SOURCE = config["data"]["source"]

if SOURCE == "toy":

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

elif SOURCE == "local":

    rule copy_local:
        input:
            local_inputs(config["data"]["local"]),
        output:
            RAW + [ref for refs in TEST_REFS.values() for ref in refs[1:]],
        log:
            exp("logs/copy_local.log"),
        params:
            local=config["data"]["local"],
            langs=[config["data"]["src_lang"], config["data"]["tgt_lang"]],
            clean=config["data"]["clean"],
        script:
            "../workflow_scripts/copy_local.py"

else:

    # Downloads are shared by every experiment under results_dir (one job per remote file); they
    # run where snakemake runs (localrule), as cluster nodes often have no network. Where a file
    # comes from (data.mirror, data.manual, data.download) is read by the script, not passed as
    # params: the verified file is the same either way, so changing them reruns nothing.
    CORPUS = registry_corpus(SOURCE, SIDES["src"], SIDES["tgt"])
    DOWNLOADS = Path(config["results_dir"]) / "downloads"

    rule download:
        output:
            str(DOWNLOADS / "{file}"),
        log:
            str(DOWNLOADS / "logs" / "{file}.log"),
        wildcard_constraints:
            file="|".join(re.escape(f.name) for f in CORPUS.files),
        localrule: True
        params:
            corpus=[SOURCE, SIDES["src"], SIDES["tgt"]],
        script:
            "../workflow_scripts/download.py"

    rule prepare_corpus:
        input:
            lambda wc: [str(DOWNLOADS / f.name) for f in CORPUS.split_files(wc.split)],
        output:
            exp("data/raw/{split}.src"),
            exp("data/raw/{split}.tgt"),
        log:
            exp("logs/prepare_corpus/{split}.log"),
        params:
            corpus=[SOURCE, SIDES["src"], SIDES["tgt"]],
            clean=config["data"]["clean"],
        script:
            "../workflow_scripts/prepare_corpus.py"


rule tokenize:
    input:
        exp("data/raw/{split}.{side}"),
    output:
        exp("data/tok/{split}.{side}"),
    log:
        exp("logs/tokenize/{split}.{side}.log"),
    threads: config["threads"]["decode"]  # worker processes for the pure-Python Moses step
    params:
        lang=lambda wc: SIDES[wc.side],
    script:
        "../workflow_scripts/tokenize.py"


if PRETRAINED:

    # A pretrained teacher's tokenizer reads raw text: no Moses steps, no BPE training. A model
    # id is fetched from the hub where snakemake runs (localrule), as cluster nodes often have no
    # network; a local directory's files are inputs, so that changing them reruns the import.
    rule import_tokenizer:
        input:
            local_files(PRETRAINED),
        output:
            [exp("bpe/marian", name) for name in TOKENIZER_FILES],
        log:
            exp("logs/import_tokenizer.log"),
        localrule: True
        params:
            source=PRETRAINED,
        script:
            "../workflow_scripts/import_tokenizer.py"

else:

    rule train_bpe:
        input:
            exp("data/tok/train.src"),
            exp("data/tok/train.tgt"),
        output:
            BPE,
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
        model=BPE,
        text=expand(exp("data/raw" if PRETRAINED else "data/tok", "{split}.{{side}}"), split=SPLITS),
    output:
        expand(exp("bpe/{split}.{{side}}"), split=SPLITS),
    log:
        exp("logs/apply_bpe/{side}.log"),
    script:
        "../workflow_scripts/apply_bpe.py"


rule binarize:
    # The token ids of a BPE text, memory-mapped by every training job (wd/data/binary.py).
    input:
        model=BPE,
        text=lambda wildcards: PLAN.binarize_source(wildcards.name),
    output:
        exp("bin/{name}.npy"),
    log:
        exp("logs/binarize/{name}.log"),
    wildcard_constraints:
        name=r"(train|valid)\.(src|tgt)|kd\.tgt",
    # On the teacher's and the students' critical path.
    priority: 20
    script:
        "../workflow_scripts/binarize.py"
