"""WD Phase 1: train the parameter generator on the frozen teacher (all tensor kinds, or one kind
for the transfer ablations); write the plain student."""
from wd.config import train_settings
from wd.pipeline import load_corpora, model_config, train_phase1
from wd.workflow import step

with step(snakemake) as device:
    inp, p, cfg = snakemake.input, snakemake.params, snakemake.config
    train = load_corpora(inp.bpe, inp.train, cfg["data"].get("max_len"))
    valid = load_corpora(inp.bpe, inp.valid, None)
    train_phase1(inp.teacher, model_config(inp.bpe, p.model), train, valid,
                 train_settings(p.train, cfg), p.work, snakemake.output.model,
                 snakemake.output.curve, device, transfer=snakemake.wildcards.transfer)
