"""Train the teacher; its final model is the average of its last checkpoints."""
from wd.config import train_settings
from wd.pipeline import load_corpora, model_config, train_model
from wd.workflow import step

with step(snakemake) as device:
    inp, p, cfg = snakemake.input, snakemake.params, snakemake.config
    train = load_corpora(inp.bpe, inp.train, cfg["data"].get("max_len"))
    valid = load_corpora(inp.bpe, inp.valid, None)
    train_model(model_config(inp.bpe, p.model), "random", train, valid, train_settings(p.train, cfg),
                p.work, snakemake.output.model, snakemake.output.curve, device)
