# Data: raw corpus (generated toy pair, local files, or a registry corpus downloaded and
# checksum-verified) -> Moses tokens -> joint BPE pieces. Nothing is fetched at parse time.
import re

from wd.data.corpora import registry_corpus
from wd.data.mono import mono_files
from wd.data.prepare import local_inputs

# data.mono: registry files (of a corpus's named sets) and local paths, in order.
MONO_FILES = mono_files(config["data"])

RAW = expand(exp("data/raw/{split}.{side}"), split=SPLITS, side=["src", "tgt"])
SOURCE = config["data"]["source"]

if SOURCE == "toy":

    rule generate_toy:
        output:
            RAW,
        log:
            exp("logs/generate_toy.log"),
        params:
            sizes={k: v for k, v in config["data"]["toy"].items() if k != "mono"},
            seed=config["seed"],
        script:
            "../workflow_scripts/generate_toy.py"

    rule generate_toy_mono:
        # The toy pair's monolingual set "toy" (data.toy.mono source sentences).
        output:
            exp("data/toy/mono.src"),
        log:
            exp("logs/generate_toy_mono.log"),
        params:
            size=config["data"]["toy"].get("mono", 0),
            seed=config["seed"],
        script:
            "../workflow_scripts/generate_toy_mono.py"

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
        # The corpus's own splits: data/raw/mono.src is prepare_mono's.
        wildcard_constraints:
            split="|".join(re.escape(split) for split in CORPUS.splits),
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
    # One job a split and side: the monolingual source text (data.mono) is one more split.
    input:
        model=BPE,
        text=exp("data/raw" if PRETRAINED else "data/tok", "{split}.{side}"),
    output:
        exp("bpe/{split}.{side}"),
    log:
        exp("logs/apply_bpe/{split}.{side}.log"),
    # The training and validation sides are on the teacher's critical path.
    priority: lambda wildcards: 20 if wildcards.split in ("train", "valid") else 0
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
        name=r"(train|valid)\.(src|tgt)|mono\.src|kd(_mono)?\.tgt",
    # On the teacher's and the students' critical path.
    priority: 20
    script:
        "../workflow_scripts/binarize.py"


if USES_MONO:

    # The monolingual source text the teacher translates for the students' KD data (data.mono:
    # a registry corpus's sets, local files): cleaned, deduplicated against itself and the
    # training sources, and never a validation or test source sentence (wd/data/mono.py).
    rule prepare_mono:
        input:
            mono=[mono_input(kind, value) for kind, value in MONO_FILES],
            train=exp("data/raw/train.src"),
            evaluation=[exp(f"data/raw/{split}.src") for split in SPLITS if split != "train"],
        output:
            exp("data/raw/mono.src"),
        log:
            exp("logs/prepare_mono.log"),
        params:
            lang=SIDES["src"],
            clean=config["data"]["clean"],
        script:
            "../workflow_scripts/prepare_mono.py"
